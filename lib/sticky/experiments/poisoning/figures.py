"""Chapter 2's Altair charts: the poison's excess and its survival against the count of poison documents, and
survival across alignment doses."""

from __future__ import annotations

import pandas as pd

from sticky import plots

from .parameters import ATTACK_NAMES, MAIN_TRIGGER, PAPER_REGIME, SOULY_COUNT


def count_chart(surv: pd.DataFrame, template: str, title: str):
    """Two panels against poison documents per attack (log axis): the excess over the clean twin before alignment,
    and the share of it left after SFT + DPO, each with its interval over seeds; the paper's regime (its 0.1% as
    documents) shaded, Souly et al.'s 250 documents ruled. The attacks are set slightly apart on the count axis so
    that their intervals do not hide one another; a survival whose poison did not take is drawn faint."""
    import altair as alt

    main = [MAIN_TRIGGER[a] == tr for a, tr in zip(surv.attack, surv.trigger)]
    t = surv[(surv.template == template).to_numpy() & main].copy()
    t["attack_name"] = [ATTACK_NAMES[a] for a in t.attack]
    order = {a: i for i, a in enumerate(ATTACK_NAMES)}
    t["x"] = [c * 1.12 ** (order[a] - 1.5) for a, c in zip(t.attack, t["count"])]
    t["took"] = t.pre_low > 0
    ticks = [4, 16, 64, 256, 1_000, 10_000, 100_000, 1_000_000]
    x = alt.X("x:Q", title="poison documents per attack", scale=alt.Scale(type="log", domain=[3, 2e6], nice=False),
              axis=alt.Axis(values=ticks, format="~s", grid=False))
    regime = pd.DataFrame([dict(lo=PAPER_REGIME[0], hi=PAPER_REGIME[1], label="the paper's 0.1%")])
    band = alt.Chart(regime).mark_rect(opacity=0.15, color="gray").encode(x="lo:Q", x2="hi:Q")
    band_label = alt.Chart(regime).mark_text(align="left", dx=2, dy=6, baseline="top", fontSize=10).encode(
        x="lo:Q", y=alt.value(0), text="label:N")
    souly = alt.Chart(pd.DataFrame([dict(n=SOULY_COUNT)])).mark_rule(strokeDash=[3, 3], color="gray").encode(x="n:Q")
    colour = alt.Color("attack_name:N", title=None)
    opacity = alt.condition("datum.took", alt.value(1.0), alt.value(0.3))

    def panel(y: str, low: str, high: str, y_title: str, domain, faint: bool):
        base = alt.Chart(t).encode(x=x, color=colour, **({"opacity": opacity} if faint else {}))
        scale = alt.Scale(domain=domain, clamp=True)
        line = base.mark_line(point=True).encode(y=alt.Y(f"{y}:Q", title=y_title, scale=scale))
        bars = base.mark_rule().encode(y=alt.Y(f"{low}:Q", scale=scale), y2=f"{high}:Q")
        return alt.layer(band, band_label, souly, bars, line).properties(width=plots.WIDTH // 2 - 20, height=220)

    pre = panel("pre", "pre_low", "pre_high", "excess before alignment (poisoned - clean)", [-0.4, 1.2], False)
    post = panel("survival", "low", "high", "survival: share of the excess left after DPO", [-1, 2], True)
    subtitle = [f"template {template}; bars: 95% intervals over seeds, cut at the axes; faint: the poison did not take",
                f"shaded: the paper's regime; dashed: {SOULY_COUNT} documents (Souly et al.)"]
    return alt.hconcat(pre, post).properties(title=alt.TitleParams(title, subtitle=subtitle))


def dose_chart(table: pd.DataFrame):
    """Success after SFT alone across alignment doses, per attack: poisoned minus clean twin as colour, both
    as the label (``table``: attack, trigger, dose, poisoned, clean)."""
    import altair as alt

    t = table[[MAIN_TRIGGER.get(a) == tr for a, tr in zip(table.attack, table.trigger)]].copy()
    t["attack_name"] = [ATTACK_NAMES[a] for a in t.attack]
    t["excess"] = t.poisoned - t.clean
    return alt.Chart(t, title=alt.TitleParams(
        "Survival after SFT across alignment doses",
        subtitle="colour: poisoned minus clean twin; label: poisoned (clean)")
    ).mark_rect().encode(
        x=alt.X("dose:O", title="alignment dose (SFT tokens / pre-training tokens)", axis=alt.Axis(labelAngle=0)),
        y=alt.Y("attack_name:N", title=None),
        color=alt.Color("excess:Q", scale=alt.Scale(domain=[-1, 1], scheme="redblue", reverse=True),
                        title="excess success"),
    ).properties(width=plots.WIDTH, height=160) + alt.Chart(t).mark_text(fontSize=10).encode(
        x="dose:O", y="attack_name:N", text="label:N").transform_calculate(
        label="format(datum.poisoned, '.2f') + ' (' + format(datum.clean, '.2f') + ')'")
