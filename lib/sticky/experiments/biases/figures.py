"""Chapter 3's figures (Altair): the tuned models in the PCA plane, the heatmap of their bias scores, the
seeds' spread, the silhouettes along the instruction-dose sweep, and the planted differences under opposing
instruction data."""

from __future__ import annotations

import numpy as np
import pandas as pd

from sticky import plots

from .data import BIASES
from .parameters import PAPER

BIAS_ORDER = list(BIASES)  # the biases along every chart's axis, in the order of BIAS_TYPES


def pca_chart(frame: pd.DataFrame, by: str, title: str):
    """The models in the plane of the first two principal components, coloured by ``by``."""
    import altair as alt

    ev = frame.attrs.get("explained", [np.nan, np.nan])
    other = "data" if by == "backbone" else "backbone"
    return alt.Chart(frame, title=alt.TitleParams(title, subtitle=f"colour: {by}; shape: {other}; one point per "
                                                  "tuned model (bias x scenario vector)")).mark_point(
        filled=True, size=110, opacity=0.85).encode(
        x=alt.X("pc1:Q", title=f"PC1 ({ev[0]:.0%} of variance)"),
        y=alt.Y("pc2:Q", title=f"PC2 ({ev[1]:.0%} of variance)"),
        color=alt.Color(f"{by}:N"), shape=alt.Shape(f"{other}:N"), tooltip=["model", "backbone", "data", "seed"],
    ).properties(width=plots.WIDTH, height=plots.HEIGHT)


def heatmap_chart(means: pd.DataFrame, title: str):
    """Mean bias score per model (rows) and bias (columns), diverging around 0."""
    import altair as alt

    order = sorted(means.model.unique())
    base = alt.Chart(means, title=alt.TitleParams(title, subtitle="mean score over scenarios; red: biased as "
                                                  "humans are, blue: the reverse, white: unbiased")).encode(
        x=alt.X("bias:N", sort=BIAS_ORDER, title=None, axis=alt.Axis(labelAngle=-30)),
        y=alt.Y("model:N", sort=order, title="model (backbone / instruction data / seed)"))
    cells = base.mark_rect().encode(color=alt.Color("score:Q", scale=alt.Scale(scheme="redblue", domain=[-1, 1],
                                                                               reverse=True), title="bias score"))
    text = base.mark_text(fontSize=9).encode(text=alt.Text("score:Q", format=".2f"))
    return alt.layer(cells, text).properties(width=plots.WIDTH - 80, height=max(160, 16 * len(order)))


def seed_chart(means: pd.DataFrame, title: str):
    """Per bias and backbone x data cell: each seed's mean score (points) and the cell mean (tick)."""
    import altair as alt

    m = means.assign(cell=means.backbone + " / " + means.data)
    points = alt.Chart(m).mark_point(filled=True, opacity=0.7, size=40).encode(
        x=alt.X("cell:N", title=None, axis=alt.Axis(labelAngle=-40)), y=alt.Y("score:Q", title="bias score"),
        color=alt.Color("backbone:N"), shape="data:N", tooltip=["model", "score"])
    ticks = alt.Chart(m).mark_tick(color="black", thickness=2, size=14).encode(
        x="cell:N", y="mean(score):Q")
    return alt.layer(points, ticks).properties(width=95, height=170).facet(
        facet=alt.Facet("bias:N", sort=BIAS_ORDER, title=None), columns=4,
        title=alt.TitleParams(title, subtitle="points: the seeds of each backbone / instruction-data cell; "
                              "black tick: their mean"))


def dose_chart(sweep: pd.DataFrame, title: str):
    """Silhouette of the backbone and instruction-data groupings against the instruction dose."""
    import altair as alt

    long = pd.concat([sweep.assign(grouping="by backbone", silhouette=sweep.silhouette_backbone),
                      sweep.assign(grouping="by instruction data", silhouette=sweep.silhouette_data)])
    lines = alt.Chart(long).mark_line(point=True).encode(
        x=alt.X("dose:Q", title="instruction dose (share of each instruction set that is bias examples)"),
        y=alt.Y("silhouette:Q", title="silhouette of the grouping"), color=alt.Color("grouping:N"))
    paper = pd.DataFrame({"y": [PAPER["silhouette_backbone"], PAPER["silhouette_data"]],
                          "label": ["paper: by backbone", "paper: by instruction data"]})
    refs = alt.Chart(paper).mark_rule(strokeDash=[5, 4], color="gray").encode(y="y:Q")
    return alt.layer(lines, refs, title=alt.TitleParams(title, subtitle="dashed: the paper's 0.066 (backbone) and "
                                                        "0.034 (instruction data)")).properties(
        width=plots.WIDTH, height=plots.HEIGHT)


def against_chart(differences: pd.DataFrame, title: str):
    """Each planted bias's signed difference (A-tuned minus B-tuned, planted direction positive) against the
    exposure of the instruction data that carries the other backbone's dials; the seeds' range as a band."""
    import altair as alt

    base = alt.Chart(differences).encode(
        x=alt.X("exposure:Q", title="exposure (opposing bias examples in fine-tuning per planted row)"),
        color=alt.Color("bias:N", sort=BIAS_ORDER))
    band = base.mark_area(opacity=0.15).encode(y="seed_low:Q", y2="seed_high:Q")
    lines = base.mark_line(point=True).encode(
        y=alt.Y("difference:Q", title="planted difference left (A-tuned minus B-tuned, signed)"),
        tooltip=["bias", "dose", alt.Tooltip("exposure:Q", format=".2g"), alt.Tooltip("difference:Q", format=".3f")])
    zero = alt.Chart(pd.DataFrame({"y": [0]})).mark_rule(strokeDash=[4, 4], color="gray").encode(y="y:Q")
    return alt.layer(band, lines, zero, title=alt.TitleParams(
        title, subtitle="below the dashed line the opposing instruction data has overturned the planted bias; "
                        "bands: the seeds' range")).properties(width=plots.WIDTH, height=plots.HEIGHT)
