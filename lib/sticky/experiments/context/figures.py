"""Chapter 4's Altair charts: frequency, prompt-only interventions, attribution, the scaling sweep, the head
evaluation and 4b's conditions."""

from __future__ import annotations

import numpy as np
import pandas as pd

from sticky import claims, plots

from .parameters import PAPER_ONE_HEAD_RATE


def frequency_chart(rates: pd.DataFrame, fit: dict, row: dict, track: str, x: str = "mentions", x_title: str = "",
                    log_x: bool = True):
    """In-context rate (Wilson) per frequency bin, and the memorized rate; the title states the finding only when
    its claim's ``row`` (``frequency_row``) says reproduced."""
    import altair as alt

    rho = f"rho = {fit['rho_fact']:.2f} [{fit['rho_fact_low']:.2f}, {fit['rho_fact_high']:.2f}]"
    title = claims.headline(row, f"{track}: frequent facts resist counterfactual context ({rho})",
                            f"{track}: in-context rate against how often the fact was seen ({rho})")
    long = pd.concat([rates.assign(answer="in-context (context value)", value=rates.in_context_rate),
                      rates.assign(answer="memorized (fact's value)", value=rates.memorized_rate,
                                   ci_low=np.nan, ci_high=np.nan)])
    base = alt.Chart(long).encode(x=alt.X(f"{x}:Q", scale=alt.Scale(type="log" if log_x else "linear", zero=False),
                                          title=x_title or x),
                                  color=alt.Color("answer:N", title=None))
    line = base.mark_line(point=True).encode(y=alt.Y("value:Q", scale=alt.Scale(domain=[0, 1]),
                                                      title="share of conflict prompts (Wilson 95%)"))
    bars = base.mark_rule().encode(y="ci_low:Q", y2="ci_high:Q")
    subtitle = "denominator: every conflict prompt of the bin; the rest answered neither value"
    return alt.layer(bars, line, title=alt.TitleParams(title, subtitle=subtitle)).properties(
        width=plots.WIDTH, height=plots.HEIGHT)


def intervention_chart(summary: pd.DataFrame, title: str):
    import altair as alt

    base = alt.Chart(summary).encode(x=alt.X("variant:N", sort=list(summary.variant), title=None,
                                             axis=alt.Axis(labelAngle=0, labelLimit=140)))
    pts = base.mark_bar(opacity=0.7).encode(y=alt.Y("in_context_rate:Q", scale=alt.Scale(domain=[0, 1]),
                                                    title="in-context rate on strong priors (Wilson 95%)"))
    err = base.mark_rule(color="black").encode(y="ci_low:Q", y2="ci_high:Q")
    return alt.layer(pts, err, title=title).properties(width=plots.WIDTH, height=plots.HEIGHT)


def attribution_chart(table: pd.DataFrame, heads: dict[str, str], title: str):
    import altair as alt

    t = table.assign(role=table["head"].map({v: k for k, v in heads.items()}).fillna("other"))
    return alt.Chart(t, title=title).mark_rect().encode(
        x=alt.X("index:O", title="head"), y=alt.Y("layer:O", title="layer"),
        color=alt.Color("mean_ld:Q", scale=alt.Scale(scheme="redblue", domainMid=0, reverse=True),
                        title="mean LD (memory - context logit)"),
        tooltip=["head", alt.Tooltip("mean_ld:Q", format=".2f"), "role"],
    ).properties(width=plots.WIDTH // 2, height=plots.HEIGHT // 1.5)


def sweep_chart(sweep: pd.DataFrame, baseline: float, title: str):
    import altair as alt

    base = alt.Chart(sweep).encode(x=alt.X("factor:Q", title="factor on the head's output (1 = unchanged)"),
                                   color=alt.Color("role:N"))
    line = base.mark_line(point=True).encode(y=alt.Y("in_context_rate:Q", scale=alt.Scale(domain=[0, 1]),
                                                     title="in-context rate (Wilson 95%)"))
    err = base.mark_rule().encode(y="ci_low:Q", y2="ci_high:Q")
    paper = alt.Chart(pd.DataFrame({"y": [PAPER_ONE_HEAD_RATE]})).mark_rule(strokeDash=[6, 4], color="black").encode(
        y="y:Q")
    subtitle = f"dashed: the paper's 88%; baseline {baseline:.0%}; selection split"
    return alt.layer(err, line, paper, title=alt.TitleParams(title, subtitle=subtitle)).properties(
        width=plots.WIDTH, height=plots.HEIGHT)


def evaluation_chart(evaluation: pd.DataFrame, title: str):
    import altair as alt

    long = pd.concat([
        evaluation.assign(measure="in-context rate (counterfactual)", value=evaluation.in_context_rate,
                          lo=evaluation.ci_low, hi=evaluation.ci_high),
        evaluation.assign(measure="accuracy (true passage)", value=evaluation.correct_context_accuracy,
                          lo=evaluation.correct_low, hi=evaluation.correct_high),
    ])
    base = alt.Chart(long).encode(y=alt.Y("condition:N", sort=list(evaluation.condition), title=None),
                                  color=alt.Color("measure:N", title=None), yOffset="measure:N")
    bars = base.mark_bar(opacity=0.7).encode(x=alt.X("value:Q", scale=alt.Scale(domain=[0, 1]),
                                                     title="share of held-out prompts (Wilson 95%)"))
    err = base.mark_rule(color="black").encode(x="lo:Q", x2="hi:Q")
    paper = alt.Chart(pd.DataFrame({"x": [PAPER_ONE_HEAD_RATE]})).mark_rule(strokeDash=[6, 4]).encode(x="x:Q")
    return alt.layer(bars, err, paper, title=alt.TitleParams(title, subtitle="dashed: the paper's 88%")).properties(
        width=plots.WIDTH, height=plots.HEIGHT)


def absent_chart(table: pd.DataFrame, title: str):
    import altair as alt

    order = ["absent", "rare", "medium", "frequent"]
    base = alt.Chart(table).encode(x=alt.X("group:N", sort=order, title="presence of the fact in pre-training",
                                           axis=alt.Axis(labelAngle=0)),
                                   xOffset=alt.XOffset("condition:N"), color=alt.Color("condition:N", title=None))
    bars = base.mark_bar().encode(y=alt.Y("accuracy:Q", scale=alt.Scale(domain=[0, 1]),
                                          title="closed-book accuracy (Wilson 95%)"))
    err = base.mark_rule(color="black").encode(y="ci_low:Q", y2="ci_high:Q")
    chance = alt.Chart(table).mark_tick(color="gray", thickness=2, size=40).encode(
        x=alt.X("group:N", sort=order), y="chance:Q")
    return alt.layer(bars, err, chance, title=alt.TitleParams(title, subtitle="grey ticks: chance")).properties(
        width=plots.WIDTH, height=plots.HEIGHT)
