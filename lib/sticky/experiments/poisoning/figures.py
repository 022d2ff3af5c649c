"""Chapter 2's Altair charts: survival across stages, survival across alignment doses."""

from __future__ import annotations

import pandas as pd

from sticky import plots

from .attacks import ATTACK_NAMES
from .parameters import MAIN_TRIGGER, STAGES


def survival_chart(table: pd.DataFrame, verdicts: dict[str, str]):
    """One panel per attack: success (main trigger) across stages, a line per rate; dashed: the clean twin."""
    import altair as alt

    t = table[[MAIN_TRIGGER.get(a) == tr for a, tr in zip(table.attack, table.trigger)]].copy()
    t = t[t.attack != "extraction_best"]
    t["attack_name"] = [f"{ATTACK_NAMES[a]}: {verdicts.get(a, '')}" for a in t.attack]
    t["rate_label"] = [f"{r:g}" for r in t.rate]
    base = alt.Chart(t).encode(x=alt.X("stage:N", sort=list(STAGES), title=None, axis=alt.Axis(labelAngle=0)))
    lines = base.mark_line(point=True).encode(y=alt.Y("poisoned:Q", title="attack success (95% interval)",
                                                      scale=alt.Scale(domain=[0, 1])),
                                               color=alt.Color("rate_label:N", title="poison rate"))
    errs = base.mark_rule().encode(y="low:Q", y2="high:Q", color="rate_label:N")
    clean = base.mark_line(strokeDash=[4, 4], color="gray").encode(y="clean:Q", detail="rate_label:N")
    return alt.layer(clean, lines, errs).properties(width=240, height=170).facet(
        facet=alt.Facet("attack_name:N", title=None), columns=2,
        title=alt.TitleParams("Attack success after each stage (dashed: clean twin)",
                              subtitle="success: gibberish rate, ROUGE-L recall (first sample), compliance, belief"))


def dose_chart(table: pd.DataFrame):
    import altair as alt

    t = table[[MAIN_TRIGGER.get(a) == tr for a, tr in zip(table.attack, table.trigger)]].copy()
    t = t[t.attack != "extraction_best"]
    t["attack_name"] = [ATTACK_NAMES[a] for a in t.attack]
    t["excess"] = t.poisoned - t.clean
    return alt.Chart(t, title=alt.TitleParams(
        "Survival after SFT across alignment doses",
        subtitle="colour: poisoned minus clean twin; label: poisoned (clean)")
    ).mark_rect().encode(
        x=alt.X("dose:O", title="alignment dose (SFT tokens / pre-training tokens)"),
        y=alt.Y("attack_name:N", title=None),
        color=alt.Color("excess:Q", scale=alt.Scale(domain=[-1, 1], scheme="redblue", reverse=True),
                        title="excess success"),
    ).properties(width=plots.WIDTH, height=160) + alt.Chart(t).mark_text(fontSize=10).encode(
        x="dose:O", y="attack_name:N", text="label:N").transform_calculate(
        label="format(datum.poisoned, '.2f') + ' (' + format(datum.clean, '.2f') + ')'")
