"""Chapter 1's Altair charts: priming (and memorization) against p_before with the fitted break, priming
against memorization, the exposure conditions, the mitigations."""

from __future__ import annotations

import numpy as np
import pandas as pd

from sticky import claims, plots

from .parameters import PAPER_THRESHOLD


def threshold_chart(results: pd.DataFrame, fit: dict, track: str, y: str = "priming_score", row: dict | None = None):
    """log S against log p_before, the fitted break with its interval (grey band), and the paper's 1e-3. For
    priming, the title states the finding only when its claim's ``row`` (``threshold_rows``' first) says
    reproduced."""
    import altair as alt

    label = {"priming_score": "S_prime (thematic bank)", "memorization_score": "S_mem (own context)"}[y]
    good = np.isfinite(fit.get("threshold_log10", np.nan))
    if y == "priming_score":
        if row is None:
            raise ValueError("threshold_chart of priming_score needs row; allowed: the p_before claim's row")
        rho = f"rho = {fit['rho_prime']:.2f} [{row['ci_low']:.2f}, {row['ci_high']:.2f}]"
        title = claims.headline(row, f"{track}: priming falls as p_before rises ({rho})",
                                f"{track}: priming against p_before ({rho})")
    else:
        title = f"{track}: memorization against p_before (rho = {fit['rho_mem']:.2f})"
    data = results.assign(score=results[y])
    points = alt.Chart(data).mark_point(filled=True, opacity=0.7).encode(
        x=alt.X("p_before:Q", scale=alt.Scale(type="log"), title="p_before: P(keyword | own context) before learning"),
        y=alt.Y("score:Q", scale=alt.Scale(type="log"), title=f"{label}, ratio after/before, drift-corrected"),
        color=alt.Color("theme:N"), tooltip=["text_id", alt.Tooltip("p_before:Q", format=".1e"),
                                             alt.Tooltip("score:Q", format=".2f")],
    )
    layers = [points, alt.Chart(pd.DataFrame({"y": [1.0]})).mark_rule(color="gray").encode(y="y:Q")]
    layers.append(alt.Chart(pd.DataFrame({"x": [PAPER_THRESHOLD], "label": ["paper: 1e-3"]}))
                  .mark_rule(strokeDash=[6, 4], color="black").encode(x="x:Q"))
    if good and y == "priming_score":
        band = pd.DataFrame({"lo": [10 ** fit["threshold_low"]], "hi": [10 ** fit["threshold_high"]]})
        if np.isfinite(fit["threshold_low"]):
            layers.insert(0, alt.Chart(band).mark_rect(opacity=0.15, color="firebrick").encode(x="lo:Q", x2="hi:Q"))
        layers.append(alt.Chart(pd.DataFrame({"x": [10 ** fit["threshold_log10"]]}))
                      .mark_rule(color="firebrick").encode(x="x:Q"))
    subtitle = "dashed: the paper's 1e-3; red line and band: fitted break, 95% bootstrap interval; grey: no change"
    return alt.layer(*layers, title=alt.TitleParams(title, subtitle=subtitle)).properties(
        width=plots.WIDTH, height=plots.HEIGHT)


def priming_vs_memorization_chart(results: pd.DataFrame, fit: dict, track: str):
    import altair as alt

    title = f"{track}: priming against memorization (rho = {fit['rho_prime_mem']:.2f})"
    return alt.Chart(results, title=title).mark_point(filled=True, opacity=0.7).encode(
        x=alt.X("memorization_score:Q", scale=alt.Scale(type="log"), title="S_mem (own context), ratio"),
        y=alt.Y("priming_score:Q", scale=alt.Scale(type="log"), title="S_prime (thematic bank), ratio"),
        color="theme:N",
    ).properties(width=plots.WIDTH, height=plots.HEIGHT)


def exposure_chart(exp: pd.DataFrame, summary: pd.DataFrame):
    import altair as alt

    order = list(summary.condition)
    title = "Priming of the low-prior texts by exposures: " + ", ".join(
        f"{c} {10 ** m:.3g}x" for c, m in zip(summary.condition, summary.log10_priming))
    s = summary.assign(mean=10 ** summary.log10_priming, lo=10 ** summary.low, hi=10 ** summary.high)
    lines = alt.Chart(exp).mark_line(color="lightgray").encode(
        x=alt.X("condition:N", sort=order, title="exposures to the text", axis=alt.Axis(labelAngle=0)),
        y=alt.Y("priming_score:Q", scale=alt.Scale(type="log"), title="S_prime (geometric mean, 95% bootstrap)"),
        detail="text_id:N")
    means = alt.Chart(s).mark_point(filled=True, size=80, color="black").encode(
        x=alt.X("condition:N", sort=order), y="mean:Q")
    bars = alt.Chart(s).mark_rule(color="black").encode(x=alt.X("condition:N", sort=order), y="lo:Q", y2="hi:Q")
    one = alt.Chart(pd.DataFrame({"y": [1.0]})).mark_rule(strokeDash=[4, 4], color="gray").encode(y="y:Q")
    subtitle = "grey: each text; black: geometric mean, 95% bootstrap interval; dashed: no priming"
    return alt.layer(lines, one, bars, means, title=alt.TitleParams(title, subtitle=subtitle)).properties(
        width=plots.WIDTH, height=plots.HEIGHT)


def mitigation_chart(summary: pd.DataFrame, title: str):
    import altair as alt

    long = pd.concat([
        summary.assign(measure="priming reduction", value=summary.priming_reduction, lo=summary.reduction_low,
                       hi=summary.reduction_high),
        summary.assign(measure="memorization kept", value=summary.memorization_kept, lo=summary.kept_low,
                       hi=summary.kept_high),
    ])[["mitigation", "measure", "value", "lo", "hi"]]
    base = alt.Chart(long).encode(x=alt.X("mitigation:N", title=None, axis=alt.Axis(labelAngle=0)),
                                  xOffset="measure:N")
    bars = base.mark_bar().encode(y=alt.Y("value:Q", title="fraction of unmitigated log-ratio (95% bootstrap)",
                                          axis=alt.Axis(format="%")), color=alt.Color("measure:N"))
    errs = base.mark_rule(color="black").encode(y="lo:Q", y2="hi:Q")
    paper = alt.Chart(pd.DataFrame({"lo": [0.5], "hi": [0.95]})).mark_rect(opacity=0.12, color="green").encode(
        y="lo:Q", y2="hi:Q")
    subtitle = "green band: the paper's 50-95% reduction; 100% memorization kept = unchanged"
    return alt.layer(paper, bars, errs, title=alt.TitleParams(title, subtitle=subtitle)).properties(
        width=plots.WIDTH, height=plots.HEIGHT)
