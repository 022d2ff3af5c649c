"""Chapter 7: every chapter's claims in one table, read from the rows the chapters wrote (never retyped)."""

from __future__ import annotations

import base64
import html
import re

import pandas as pd

from sticky import chapters, plots
from sticky import scorecard as scorecards
from sticky.params import Spec

PARAMETERS = Spec()  # the scorecard only reads what the other chapters wrote at their own profiles


def collect(profile: str | None = None) -> tuple[pd.DataFrame, list[str]]:
    """All scorecard rows of the book (``plots.book_figures_root``) in chapter order, only those of runs at
    ``profile`` when one is named (a table never mixes profiles), and the chapters with claims that have none."""
    frames, missing = [], []
    for chapter in chapters.all_chapters():
        if chapter.name in ("intro", "scorecard"):
            continue  # the intro makes no claims; this chapter only collects
        path = plots.book_figures_root() / chapter.name / "scorecard.csv"
        rows = pd.read_csv(path) if path.exists() else pd.DataFrame(columns=["profile"])
        rows = rows[rows.profile.astype(str) == profile] if profile is not None else rows
        if len(rows):
            frames.append(rows.assign(page=f"{chapter.stem}.html"))
        else:
            missing.append(chapter.stem)
    rows = pd.concat(frames, ignore_index=True) if frames else pd.DataFrame(columns=[*scorecards.COLUMNS, "page"])
    return rows, missing


def counts_by_kind(rows: pd.DataFrame) -> pd.DataFrame:
    """Claims per kind and verdict. Design checks are listed but the headline never counts them."""
    table = pd.crosstab(rows.kind, rows.verdict).reindex(columns=list(scorecards.VERDICTS), fill_value=0)
    table = table.loc[:, (table > 0).any()] if len(table) else table
    return table.rename_axis(index="kind", columns=None)


def review_changes(rows: pd.DataFrame) -> pd.DataFrame:
    """The rows whose rule was revised after review: the first edition's verdict beside the new one."""
    revised = rows[rows.verdict_v1.notna() & (rows.verdict_v1.astype(str) != "")]
    return revised[["chapter", "claim_id", "track", "verdict_v1", "verdict", "reason"]].rename(
        columns={"verdict_v1": "v1 verdict", "verdict": "verdict now"}).reset_index(drop=True)


def claim_anchor(chapter: str, claim_id: str) -> str:
    """The HTML id of the section that tests a claim: each chapter labels it ``(<chapter>-<claim>)=``, the claim
    id without a trailing number (the rate, threshold or share it is read at, which parameters change: one
    section tests it at any), and Sphinx turns a label into an id as docutils' ``make_id`` does."""
    from docutils.nodes import make_id

    return make_id(f"{chapter}-{re.sub(r'_[0-9][0-9.e-]*(pct)?$', '', claim_id)}")


def linked_table(rows: pd.DataFrame) -> str:
    """HTML table; each claim links to the section of its chapter that tests it (``claim_anchor``), and to the
    section that states its rule (each chapter labels it ``<chapter>-rules``)."""
    head = "".join(f"<th>{c}</th>" for c in ("claim", "kind", "unit", "paper", "ours", "95% interval", "verdict",
                                             "track", "profile"))
    number, text = scorecards.number, scorecards.text
    body = []
    for r in rows.itertuples():
        claim = (f'<a href="{r.page}#{claim_anchor(r.chapter, r.claim_id)}">{html.escape(str(r.claim))}</a> '
                 f'<small>(<a href="{r.page}#{html.escape(str(r.chapter))}-rules">rule</a>)</small>')
        interval = f"[{number(r.ci_low)}, {number(r.ci_high)}]" if not pd.isna(r.ci_low) else "–"
        verdict = html.escape(r.verdict) + (f"<br><small>{text(r.reason)}</small>" if text(r.reason) else "")
        cells = [claim, html.escape(r.kind), text(r.unit), number(r.paper_value), number(r.our_value), interval,
                 verdict, html.escape(str(r.track)), html.escape(str(r.profile))]
        body.append("<tr>" + "".join(f"<td>{c}</td>" for c in cells) + "</tr>")
    return f"<table><thead><tr>{head}</tr></thead><tbody>{''.join(body)}</tbody></table>"


def csv_link(rows: pd.DataFrame) -> str:
    """A link that downloads the scorecard as CSV, the file inside the link (the built page needs no server)."""
    data = base64.b64encode(rows.drop(columns="page", errors="ignore").to_csv(index=False).encode()).decode()
    return (f'<a download="sticky-priors-scorecard.csv" href="data:text/csv;base64,{data}">Download the scorecard '
            f"as CSV</a> ({len(rows)} rows, every column).")


def verdict_chart(rows: pd.DataFrame):
    import altair as alt

    counted = rows[rows.kind != "design check"]
    counts = counted.groupby(["chapter", "verdict"]).size().rename("claims").reset_index()
    reproduced = (counted.verdict == "reproduced").sum()
    title = f"{reproduced} of {len(counted)} claims reproduced (design checks not counted)"
    return alt.Chart(counts, title=title).mark_bar().encode(
        y=alt.Y("chapter:N", title=None, sort=list(dict.fromkeys(rows.chapter))),
        x=alt.X("claims:Q", title="claims", axis=alt.Axis(tickMinStep=1)),
        color=alt.Color("verdict:N", scale=alt.Scale(domain=list(scorecards.VERDICTS),
                                                      range=["#2a9d8f", "#e76f51", "#adb5bd"])),
    ).properties(width=plots.WIDTH, height=40 + 30 * counts.chapter.nunique())
