"""Scorecard rows: every chapter's claims with the paper's figure, ours, an interval and a verdict.

A chapter builds its rows with ``frame`` and writes them with ``write`` to ``figures/<chapter>/scorecard.csv``;
the scorecard chapter reads those files back, so no number is ever retyped.
"""

from __future__ import annotations

import inspect
from pathlib import Path

import pandas as pd

from sticky import plots

COLUMNS = ["chapter", "claim_id", "claim", "kind", "direction", "delta", "unit", "paper_value", "our_value", "ci_low",
           "ci_high", "verdict", "reason", "mde", "verdict_v1", "track", "profile"]
# "partly" belongs to the first edition's rules: chapters whose claims do not go through ``sticky.claims`` yet
# still give it, and the v1 column keeps it.
VERDICTS = ("reproduced", "partly", "not reproduced", "inconclusive")


def frame(chapter: str, rows: list[dict], profile: str) -> pd.DataFrame:
    """Rows (each with claim_id, claim, paper_value, our_value, ci_low, ci_high, verdict, track; the rows of
    ``sticky.claims.row`` also with kind, direction, delta, unit, reason, mde and verdict_v1) as the book's
    scorecard table; a verdict outside ``VERDICTS`` is an error, not a new category."""
    table = pd.DataFrame([dict(chapter=chapter, **r, profile=profile) for r in rows], columns=COLUMNS)
    bad = set(table.verdict) - set(VERDICTS)
    if bad:
        raise ValueError(f"verdicts {sorted(bad)}; allowed: {', '.join(VERDICTS)}")
    return table


def write(table: pd.DataFrame, chapter: str) -> Path:
    """``figures/<chapter>/scorecard.csv``, written atomically."""
    folder = plots.figures_root() / chapter
    folder.mkdir(parents=True, exist_ok=True)
    path = folder / "scorecard.csv"
    tmp = path.with_name(f".{path.name}.tmp")
    table.to_csv(tmp, index=False)
    tmp.replace(path)
    return path


def show_rule(*functions) -> None:
    """Display the source of the functions that decide a chapter's verdicts, as the page's own code: the reader
    sees exactly what runs (the source is read from the library at run time, never copied into the page)."""
    from IPython.display import Markdown, display

    display(Markdown("\n\n".join(f"```python\n{inspect.getsource(f).rstrip()}\n```" for f in functions)))
