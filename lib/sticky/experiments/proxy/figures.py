"""Chapter 5's figures (Altair)."""

from __future__ import annotations

import pandas as pd

from sticky import plots

from .parameters import ARMS, TASKS


def curves_chart(curves: pd.DataFrame):
    import altair as alt

    c = curves[curves.mentions != "held out"].assign(m=lambda d: d.mentions.astype(int))
    base = alt.Chart(c, title="The large base knows facts the small base does not").encode(
        x=alt.X("m:Q", scale=alt.Scale(type="log"), title="mentions of the fact in pre-training"),
        color=alt.Color("model:N", title="base"))
    line = base.mark_line(point=True).encode(y=alt.Y("recall:Q", title="closed-book recall (95% Wilson)",
                                                     scale=alt.Scale(domain=[0, 1])))
    err = base.mark_rule().encode(y="ci_low:Q", y2="ci_high:Q")
    return (err + line).properties(width=plots.WIDTH, height=plots.HEIGHT)


def arms_chart(acc: pd.DataFrame, title: str):
    import altair as alt

    base = alt.Chart(acc).encode(x=alt.X("arm:N", sort=list(ARMS), title=None, axis=alt.Axis(labelAngle=0)))
    bars = base.mark_bar().encode(y=alt.Y("accuracy:Q", scale=alt.Scale(domain=[0, 1]),
                                          title="accuracy (95% Wilson, items x seeds)"),
                                  color=alt.Color("arm:N", sort=list(ARMS)))
    err = base.mark_rule(color="black").encode(y="ci_low:Q", y2="ci_high:Q")
    return alt.layer(bars, err).properties(width=160, height=plots.HEIGHT).facet(
        column=alt.Column("task:N", sort=list(TASKS), title=None), title=title)


def alpha_chart(table: pd.DataFrame, acc: pd.DataFrame):
    import altair as alt

    refs = acc[acc.arm.isin(["base", "direct"])].astype({"arm": str})
    line = alt.Chart(table).mark_line(point=True).encode(
        x=alt.X("alpha:Q", title="alpha (strength of the expert - anti-expert shift)"),
        y=alt.Y("accuracy:Q", scale=alt.Scale(domain=[0, 1]), title="proxy accuracy (95% Wilson)"),
        color=alt.Color("task:N", sort=list(TASKS)))
    err = alt.Chart(table).mark_rule().encode(x="alpha:Q", y="ci_low:Q", y2="ci_high:Q", color=alt.Color("task:N"))
    ref = alt.Chart(refs).mark_rule(strokeDash=[4, 4]).encode(y="accuracy:Q", color=alt.Color("task:N"),
                                                                strokeDash=alt.StrokeDash("arm:N", title="reference"))
    title = alt.TitleParams("The alpha sweep: how far the proxy's strength trades format for knowledge",
                            subtitle="lines: proxy at each alpha; dashed: the base and the directly tuned model")
    return alt.layer(ref, err, line, title=title).properties(width=plots.WIDTH, height=plots.HEIGHT)


def knowledge_chart(table: pd.DataFrame, title: str):
    import altair as alt

    base = alt.Chart(table).encode(x=alt.X("mentions:Q", scale=alt.Scale(type="log"),
                                           title="mentions of the fact in pre-training "
                                                 "(facts never in the tuning data)"),
                                   color=alt.Color("arm:N", sort=list(ARMS)))
    line = base.mark_line(point=True).encode(y=alt.Y("accuracy:Q", scale=alt.Scale(domain=[0, 1]),
                                                     title="closed-book accuracy (95% Wilson)"))
    err = base.mark_rule(opacity=0.5).encode(y="ci_low:Q", y2="ci_high:Q")
    return alt.layer(err, line, title=title).properties(width=plots.WIDTH, height=plots.HEIGHT)


def shift_chart(summary: pd.DataFrame, title: str):
    import altair as alt

    s = summary[summary.token_class != "style - fact"]
    base = alt.Chart(s).encode(x=alt.X("token_class:N", sort=["style", "other", "fact"], title=None,
                                       axis=alt.Axis(labelAngle=0)), xOffset="model:N")
    bars = base.mark_bar().encode(y=alt.Y("mean_gain:Q", title="mean probability gain over the base (95% bootstrap)"),
                                  color=alt.Color("model:N", title="tuned by"))
    err = base.mark_rule(color="black").encode(y="ci_low:Q", y2="ci_high:Q")
    return alt.layer(bars, err, title=title).properties(width=plots.WIDTH, height=plots.HEIGHT)


def change_chart(change: pd.DataFrame, title: str):
    import altair as alt

    order = list(change.group)
    return alt.Chart(change, title=title).mark_bar().encode(
        y=alt.Y("group:N", sort=order, title=None),
        x=alt.X("relative_change:Q", title="relative weight change ||dW|| / ||W|| (Frobenius)"),
        color=alt.Color("tuned:N", title="fine-tuned"), yOffset="tuned:N",
    ).properties(width=plots.WIDTH - 120, height=plots.HEIGHT + 60)


def lens_chart(lens: pd.DataFrame, title: str):
    import altair as alt

    t = lens.groupby(["model", "layer"]).top1.mean().reset_index()
    return alt.Chart(t, title=title).mark_line(point=True).encode(
        x=alt.X("layer:O", title="read after decoder layer (logit lens)"),
        y=alt.Y("top1:Q", scale=alt.Scale(domain=[0, 1]), title="facts whose value ranks first among its relation's"),
        color=alt.Color("model:N"),
    ).properties(width=plots.WIDTH, height=plots.HEIGHT)


def restore_chart(restore: pd.DataFrame, title: str):
    import altair as alt

    base = alt.Chart(restore).encode(y=alt.Y("restored:N", sort=list(restore.restored),
                                             title="weights put back to the base's"))
    bars = base.mark_bar().encode(x=alt.X("top1:Q", scale=alt.Scale(domain=[0, 1]),
                                          title="closed-book top-1 (95% Wilson)"))
    err = base.mark_rule(color="black").encode(x="ci_low:Q", x2="ci_high:Q")
    return alt.layer(bars, err, title=title).properties(width=plots.WIDTH, height=plots.HEIGHT)


def bench_chart(bench: pd.DataFrame, title: str):
    import altair as alt

    order = list(dict.fromkeys(bench.decoding))
    # lines and points, not bars: a bar on a log scale has no baseline to stand on and is drawn as nothing
    return alt.Chart(bench, title=title).mark_line(point=True).encode(
        x=alt.X("prompts:O", title=f"prompts decoded together ({bench.new_tokens.iloc[0]} new tokens each)"),
        y=alt.Y("tokens_per_s:Q", scale=alt.Scale(type="log"), title="generated tokens per second (best of 2, log)"),
        color=alt.Color("decoding:N", sort=order, title=None),
    ).properties(width=plots.WIDTH - 100, height=plots.HEIGHT)
