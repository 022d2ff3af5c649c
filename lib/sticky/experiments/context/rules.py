"""Chapter 4's verdicts: the rules the chapter states before the results, and the scorecard rows they decide."""

from __future__ import annotations

import numpy as np
import pandas as pd

from sticky import claims
from sticky import scorecard as scorecards

from .parameters import CHAPTER, HIGH_RATE, LIFT, MIN_FACTS, PAPER_ONE_HEAD_RATE


def verdict_frequency(rho: float, high: float, facts: int) -> str:
    """Frequency predicts override resistance: rho(log frequency, per-fact in-context rate) <= -0.3 with its
    interval below 0: reproduced; interval below 0 but weaker: partly; interval reaching 0 (or above):
    not reproduced. Fewer than MIN_FACTS facts or no interval: inconclusive."""
    if facts < MIN_FACTS or not np.isfinite(high):
        return "inconclusive"
    if high < 0:
        return "reproduced" if rho <= -0.3 else "partly"
    return "not reproduced"


def verdict_prompting(summary: pd.DataFrame, strong_base_rate: float, weak_base_rate: float, facts: int) -> str:
    """Prompt-only interventions fail on strong priors: an intervention *works* when its paired lift on strong
    priors is >= LIFT with its interval above 0. None works: reproduced. One works but leaves strong priors
    below the weak priors' baseline rate: partly. One works and reaches it: not reproduced. Fewer than
    MIN_FACTS strong facts, or a strong-prior baseline already >= 0.9 (nothing to lift): inconclusive."""
    if facts < MIN_FACTS or not np.isfinite(strong_base_rate) or strong_base_rate >= 0.9:
        return "inconclusive"
    others = summary[summary.variant != "baseline"]
    works = others[(others.lift >= LIFT) & (others.lift_low > 0)]
    if works.empty:
        return "reproduced"
    return "not reproduced" if works.in_context_rate.max() >= weak_base_rate else "partly"


def verdict_one_head(evaluation: pd.DataFrame, facts: int) -> str:
    """One-head scaling reaches a high in-context rate on held-out data: the chosen head's held-out rate >=
    HIGH_RATE, its paired lift over the baseline with interval above 0, and a lift above every placebo head's:
    reproduced. A lift with interval above 0 otherwise: partly. No such lift: not reproduced. Fewer than
    MIN_FACTS held-out facts, or a baseline already >= HIGH_RATE: inconclusive."""
    base = evaluation[evaluation.kind == "baseline"].iloc[0]
    chosen = evaluation[evaluation.kind == "chosen"].iloc[0]
    placebo = evaluation[evaluation.kind == "placebo"]
    if facts < MIN_FACTS or base.in_context_rate >= HIGH_RATE or not np.isfinite(chosen.lift_low):
        return "inconclusive"
    if chosen.lift_low <= 0:
        return "not reproduced"
    beats = placebo.empty or chosen.lift > placebo.lift.max()
    return "reproduced" if chosen.in_context_rate >= HIGH_RATE and beats else "partly"


def verdict_absent(table: pd.DataFrame) -> str:
    """Elicitation cannot recover absent facts while provision and fine-tuning can. Inconclusive when the best
    elicitation prompt does not recall frequent facts (accuracy < 0.8: the search itself failed). Elicitation
    recovers absent facts (Wilson low above chance): not reproduced. Otherwise reproduced when both the fact
    in context and fine-tuning reach >= 0.5 on absent facts with Wilson low above chance; partly when one does."""
    get = lambda g, c: table[(table.group == g) & (table.condition == c)]
    freq = get("frequent", "elicitation (best prompt)")
    absent = get("absent", "elicitation (best prompt)")
    if freq.empty or absent.empty or not freq.accuracy.iloc[0] >= 0.8:
        return "inconclusive"
    if absent.ci_low.iloc[0] > absent.chance.iloc[0]:
        return "not reproduced"
    ok = [not (g := get("absent", c)).empty and g.accuracy.iloc[0] >= 0.5 and g.ci_low.iloc[0] > g.chance.iloc[0]
          for c in ("fact in context", "fine-tuning")]
    return "reproduced" if all(ok) else "partly" if any(ok) else "not reproduced"


def frequency_row(fit: dict, note: str = "") -> dict:
    return dict(claim_id="frequency_predicts_override_resistance",
                claim="the more frequent the fact, the less often counterfactual context overrides it "
                      f"(Spearman rho, per-fact in-context rate vs log frequency{note})",
                paper_value="negative (strong priors resist)", our_value=fit["rho_fact"], ci_low=fit["rho_fact_low"],
                ci_high=fit["rho_fact_high"],
                verdict=verdict_frequency(fit["rho_fact"], fit["rho_fact_high"], fit["facts"]))


PROMPTING_FAILS = claims.Claim(
    "prompting_fails_on_strong_priors", "prompt-only interventions do not lift the in-context rate on strong priors "
    "(the best intervention's paired lift in rate)", "paper finding", "null", LIFT,
    "a lift of 10 points is one a user would notice", "fact", paper="fail")


def positive_control(weak_summary: pd.DataFrame | None) -> pd.Series | None:
    """The intervention that works where priors are weak (lift >= LIFT with its interval above 0), if any: a null
    on strong priors means something only if some prompt can move this model at all."""
    if weak_summary is None:
        return None
    works = weak_summary[(weak_summary.variant != "baseline") & (weak_summary.lift >= LIFT)
                         & (weak_summary.lift_low > 0)]
    return None if works.empty else works.sort_values("lift").iloc[-1]


def prompting_row(summary: pd.DataFrame, strong_base: float, weak_base: float, facts: int,
                  weak_summary: pd.DataFrame | None = None) -> dict:
    """Rule 2 as a null claim on the best intervention's lift on strong priors (inside ±LIFT: reproduced), gated
    by the positive control: with no intervention that works on weak priors the row is inconclusive. The v1
    column is the first edition's rule, which called "none works" reproduced without that control."""
    others = summary[summary.variant != "baseline"]
    best = others.sort_values("lift").iloc[-1]
    v1 = verdict_prompting(summary, strong_base, weak_base, facts)
    control = positive_control(weak_summary)
    return claims.row(PROMPTING_FAILS, best.lift, best.lift_low, best.lift_high, verdict_v1=v1,
                      unmet=None if control is not None else "no positive control: no prompt lifts weak priors by "
                                                             "10 points",
                      note=f"best: {best.variant}; positive control on weak priors: "
                           + (f"{control.variant}, {control.lift:+.2f}" if control is not None else "none works"))


def one_head_row(evaluation: pd.DataFrame, setting: dict, facts: int) -> dict:
    chosen = evaluation[evaluation.kind == "chosen"].iloc[0]
    return dict(claim_id="one_head_scaling", claim=f"scaling one head ({setting['role']} head {setting['head']} x "
                f"{setting['factor']:g}) reaches a high in-context rate on held-out facts",
                paper_value=PAPER_ONE_HEAD_RATE, our_value=chosen.in_context_rate, ci_low=chosen.ci_low,
                ci_high=chosen.ci_high, verdict=verdict_one_head(evaluation, facts))


def absent_row(table: pd.DataFrame) -> dict:
    a = table[(table.group == "absent") & (table.condition == "elicitation (best prompt)")].iloc[0]
    acc = lambda c: table[(table.group == "absent") & (table.condition == c)].accuracy.iloc[0]
    return dict(claim_id="prompting_cannot_inject_absent_knowledge",
                claim=f"elicitation cannot recover absent facts (best prompt, held-out split; chance {a.chance:.2f}) "
                      f"while the fact in context ({acc('fact in context'):.2f}) and fine-tuning "
                      f"({acc('fine-tuning'):.2f}) can",
                paper_value="elicitation ~ chance; provision, fine-tuning high", our_value=a.accuracy,
                ci_low=a.ci_low, ci_high=a.ci_high, verdict=verdict_absent(table))


def scorecard(rows_by_track: dict[str, list[dict]], profile: str) -> pd.DataFrame:
    return scorecards.frame(CHAPTER, [dict(r, track=t) for t, rs in rows_by_track.items() for r in rs], profile)
