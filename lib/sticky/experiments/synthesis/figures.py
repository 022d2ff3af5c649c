"""The chapter's Altair charts."""

from __future__ import annotations

import pandas as pd

from sticky import plots

from .backdoors import COVERAGE


def persistence_chart(eff: pd.DataFrame, title: str):
    """Each backdoor that took: its persistence against its prior, coloured by coverage arm, one panel per kind,
    with a least-squares line per arm."""
    import altair as alt

    d = eff[eff.took].assign(log10_prior=lambda x: x.log10_prior.astype(float))
    scale = alt.Scale(domain=list(COVERAGE), range=["firebrick", "darkorange", "steelblue"])
    base = alt.Chart(d).encode(x=alt.X("log10_prior:Q", title="log10 prior of the target (clean twin)"),
                               color=alt.Color("coverage:N", scale=scale, title="coverage"))
    points = base.mark_point(filled=True, size=30, opacity=0.6).encode(
        y=alt.Y("persistence:Q", title="persistence (mean retained share over the doses)"),
        shape=alt.Shape("count:N", title="poison documents"), tooltip=["seed", "keyword", "code", "persistence"])
    lines = base.transform_regression("log10_prior", "persistence", groupby=["coverage"]).mark_line().encode(
        y="persistence:Q")
    return alt.layer(points, lines).properties(width=plots.WIDTH // 2 - 30, height=240).facet(
        column=alt.Column("kind:N", title=None)).properties(title=title)


def dose_chart(arms: pd.DataFrame, doses: list[float]):
    """Mean retained share of the backdoors that took, by coverage arm and kind, along the dose ladder (then DPO at
    the top dose): the mean over seeds and its range."""
    import altair as alt

    columns = {f"retained {d:g}": d for d in doses}
    long = arms.melt(["seed", "kind", "coverage"], list(columns), var_name="stage", value_name="retained")
    long["dose"] = long.stage.map(columns)
    g = long.groupby(["kind", "coverage", "dose"]).retained.agg(["mean", "min", "max"]).reset_index()
    scale = alt.Scale(domain=list(COVERAGE), range=["firebrick", "darkorange", "steelblue"])
    base = alt.Chart(g).encode(x=alt.X("dose:Q", scale=alt.Scale(type="log"),
                                       title="SFT tokens per pre-training token"),
                               color=alt.Color("coverage:N", scale=scale))
    band = base.mark_area(opacity=0.15).encode(y="min:Q", y2="max:Q")
    line = base.mark_line(point=True).encode(y=alt.Y("mean:Q", title="retained share of the effect"))
    half = alt.Chart(g).mark_rule(strokeDash=[3, 3], color="gray").encode(y=alt.datum(0.5))  # facets need one data
    return alt.layer(band, line, half).properties(width=plots.WIDTH // 2 - 30, height=220).facet(
        column=alt.Column("kind:N", title=None))


def power_chart(power: pd.DataFrame, delta: float):
    """The power simulation: the chance of each verdict against the true slope, per residual SD."""
    import altair as alt

    long = power.melt(["slope", "sigma"], ["detected_beyond_delta", "null_reproduced"], var_name="verdict",
                      value_name="chance")
    long["verdict"] = long.verdict.map({"detected_beyond_delta": "priming explains (beyond ±δ)",
                                        "null_reproduced": "null reproduced (inside ±δ)"})
    lines = alt.Chart(long).mark_line(point=True).encode(
        x=alt.X("slope:Q", title="true slope (persistence per SD of log10 prior)"),
        y=alt.Y("chance:Q", title="chance over simulated runs"), color="verdict:N",
        strokeDash=alt.StrokeDash("sigma:N", title="residual SD"))
    rules = alt.Chart(pd.DataFrame({"x": [delta]})).mark_rule(color="gray").encode(x="x:Q")
    return alt.layer(lines, rules).properties(width=plots.WIDTH, height=220)



def depth_chart(shares: pd.DataFrame, title: str):
    """The share of the effect each unit removes when restored from the clean twin, before alignment and after DPO:
    each seed a point, the mean over seeds a bar."""
    import altair as alt

    d = shares.assign(stage=shares.stage.map({"pretrained": "before alignment", "dpo": "after DPO"}))
    x = alt.X("stage:N", sort=["before alignment", "after DPO"], title=None)
    bars = alt.Chart(d).mark_bar(opacity=0.5).encode(x=x, y=alt.Y("mean(share):Q", title="share of the effect removed"),
                                                    color=alt.Color("stage:N", legend=None))
    points = alt.Chart(d).mark_point(filled=True, color="black", size=25).encode(x=x, y="share:Q",
                                                                                 tooltip=["seed", "share", "backdoors"])
    return alt.layer(bars, points).properties(width=110, height=220).facet(
        column=alt.Column("unit:N", sort=["lower half", "upper half", "all layers", "embedding"], title=None)
    ).properties(title=title)
