"""The chapter's Altair charts."""

from __future__ import annotations

import numpy as np
import pandas as pd

from sticky import plots

from .parameters import MIN_GAP


def survival_outliers(survival: pd.Series, k: float = 3.0) -> pd.Series:
    """Whether each value lies more than ``k`` interquartile ranges outside the quartiles: drawn at the plot's
    edge and named, so that one exploding share does not squeeze every other point against 0."""
    q1, q3 = np.nanpercentile(survival, [25, 75])
    return (survival < q1 - k * (q3 - q1)) | (survival > q3 + k * (q3 - q1))


def survival_chart(res: pd.DataFrame, threshold_log10: float, score: str = "memorization"):
    import altair as alt

    d = res.assign(log10_p_before=np.log10(res.p_before), survival=res[f"{score}_survival"])
    d = d[np.isfinite(d.survival)]
    far = survival_outliers(d.survival)
    low, high = d.survival[~far].min(), d.survival[~far].max()
    d = d.assign(shown=d.survival.clip(low, high),
                 label=np.where(far, d.keyword + " " + d.survival.map("{:.3g}".format), ""))
    points = alt.Chart(d).mark_point(filled=True, size=50, opacity=0.8).encode(
        x=alt.X("log10_p_before:Q", title="log10 p_before (keyword prior)"),
        y=alt.Y("shown:Q", title=f"surviving share of the planted log S_{score[:3]}"),
        color=alt.Color("theme:N"), shape=alt.condition(alt.datum.label != "", alt.value("triangle"),
                                                        alt.value("circle")),
        tooltip=["keyword", "p_before", "survival"])
    names = alt.Chart(d[far]).mark_text(align="left", dx=6, fontSize=10).encode(
        x="log10_p_before:Q", y="shown:Q", text="label:N")
    layers = [points, names,
              alt.Chart(pd.DataFrame({"y": [0.0]})).mark_rule(strokeDash=[2, 2], color="gray").encode(y="y:Q")]
    if np.isfinite(threshold_log10):
        layers.append(alt.Chart(pd.DataFrame({"x": [threshold_log10]})).mark_rule(color="firebrick").encode(x="x:Q"))
    subtitle = (f"{int(far.sum())} share(s) beyond 3 IQR drawn at the edge as triangles, named with their value"
                if far.any() else "every share within 3 IQR of the quartiles")
    return alt.layer(*layers).properties(width=plots.WIDTH, height=260, title=alt.TitleParams(
        "Chapter 1's threshold (red) against what survives alignment", subtitle=subtitle))


def gradient_chart(grad: pd.DataFrame, measure: str = "reply"):
    import altair as alt

    d = grad[grad.measure == measure].groupby(["attack", "unit"]).cosine.agg(["mean", "min", "max"]).reset_index()
    base = alt.Chart(d).encode(y=alt.Y("unit:N", title=None), color=alt.Color("attack:N"),
                               yOffset="attack:N")
    return alt.layer(
        base.mark_rule().encode(x=alt.X("min:Q", title="cosine(alignment gradient, poison gradient)"), x2="max:Q"),
        base.mark_point(filled=True).encode(x="mean:Q"),
        alt.Chart(pd.DataFrame({"x": [0.0]})).mark_rule(color="gray").encode(x="x:Q"),
    ).properties(width=plots.WIDTH, height=240)


def localisation_chart(loc: pd.DataFrame, min_gap: float = MIN_GAP):
    """Mean share removed per unit; a behaviour whose mean gap at a stage is below ``min_gap`` is left blank."""
    import altair as alt

    d = loc.groupby(["attack", "stage", "unit"]).agg(share=("share", "mean"), gap=("gap", "mean")).reset_index()
    d = d[d.gap >= min_gap]
    return alt.Chart(d).mark_rect().encode(
        x=alt.X("unit:N", title="unit restored from the clean twin", sort=list(dict.fromkeys(loc.unit))),
        y=alt.Y("attack:N", title=None),
        color=alt.Color("share:Q", scale=alt.Scale(scheme="blues", domain=[0, 1], clamp=True),
                        title="share of effect removed"),
        column=alt.Column("stage:N", title=None, sort=["pretrained", "dpo"]),
    ).properties(width=plots.WIDTH // 2 - 40, height=140)
