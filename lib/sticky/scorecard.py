"""Scorecard rows: every chapter's claims with the paper's figure, ours, an interval and a verdict.

A chapter builds its rows with ``frame`` and writes them with ``write`` to ``figures/<chapter>/scorecard.csv``;
the scorecard chapter reads those files back, so no number is ever retyped.
"""

from __future__ import annotations

import inspect
from pathlib import Path

import pandas as pd

from sticky import claims, plots

COLUMNS = ["chapter", "claim_id", "claim", "kind", "direction", "delta", "unit", "paper_value", "our_value", "ci_low",
           "ci_high", "verdict", "reason", "mde", "verdict_v1", "track", "profile"]
# the verdicts of ``sticky.claims.decide``; the first edition's rules also said "partly", which only the v1
# column keeps
VERDICTS = ("reproduced", "not reproduced", "inconclusive")


def frame(chapter: str, rows: list[dict], profile: str) -> pd.DataFrame:
    """Rows of ``sticky.claims.row`` (each with a track) as the book's scorecard table. A verdict outside
    ``VERDICTS`` is an error, not a new category, and so is a row without a declared kind of claim."""
    table = pd.DataFrame([dict(chapter=chapter, **r, profile=profile) for r in rows], columns=COLUMNS)
    bad = set(table.verdict) - set(VERDICTS)
    if bad:
        raise ValueError(f"verdicts {sorted(bad)}; allowed: {', '.join(VERDICTS)}")
    undeclared = sorted(set(table.claim_id[~table.kind.isin(claims.KINDS)]))
    if undeclared:
        raise ValueError(f"claims {undeclared} have no kind; allowed: {', '.join(claims.KINDS)} (build rows "
                         "with sticky.claims.row)")
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
