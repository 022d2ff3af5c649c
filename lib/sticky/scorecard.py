"""Scorecard rows: every chapter's claims with the paper's figure, ours, an interval and a verdict.

A chapter builds its rows with ``frame`` and writes them with ``write`` to ``figures/<chapter>/scorecard.csv``;
the scorecard chapter reads those files back, so no number is ever retyped.
"""

from __future__ import annotations

import html
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


def number(value) -> str:
    """A table cell's number: three significant digits, a dash for a missing one, text escaped as it is."""
    try:
        value = float(value)
    except (TypeError, ValueError):
        return html.escape(str(value))
    return "–" if pd.isna(value) else f"{value:.3g}"


def text(value) -> str:
    return "" if pd.isna(value) else html.escape(str(value))


def verdict_summary(table: pd.DataFrame) -> str:
    """One sentence: the counted claims' verdicts, and the design checks apart (shown, never counted)."""
    counted, checks = table[table.kind != "design check"], table[table.kind == "design check"]
    parts = [f"{(counted.verdict == v).sum()} {v}" for v in VERDICTS if (counted.verdict == v).any()]
    sentence = f"{len(counted)} counted claims: {', '.join(parts) or 'none'}."
    if len(checks):
        sentence += " Design checks (shown, not counted): " + ", ".join(
            f"{c} {v}" for c, v in zip(checks.claim_id, checks.verdict)) + "."
    return sentence


def show(table: pd.DataFrame):
    """A chapter's scorecard as a reader reads it: one row per claim, narrow enough for the page (the claim and
    its kind, the track, ours with its 95% interval, the paper's figure, the verdict with its reason and the v1
    verdict), closed by ``verdict_summary``. Every column stays in the CSV that ``write`` saves."""
    from IPython.display import HTML

    head = "".join(f"<th>{c}</th>" for c in ("claim", "track", "ours [95% interval]", "paper", "verdict"))
    body = []
    for r in table.itertuples():
        interval = f" [{number(r.ci_low)}, {number(r.ci_high)}]" if not pd.isna(r.ci_low) else ""
        v1 = f"<br><small>v1: {text(r.verdict_v1)}</small>" if text(r.verdict_v1) else ""
        cells = [f"{text(r.claim)}<br><small>{text(r.kind)}; unit: {text(r.unit)}</small>", text(r.track),
                 number(r.our_value) + interval, number(r.paper_value),
                 f"<b>{text(r.verdict)}</b><br><small>{text(r.reason)}</small>{v1}"]
        body.append("<tr>" + "".join(f"<td>{c}</td>" for c in cells) + "</tr>")
    return HTML(f'<table class="scorecard"><thead><tr>{head}</tr></thead><tbody>{"".join(body)}</tbody></table>'
                f"<p>{html.escape(verdict_summary(table))}</p>")

