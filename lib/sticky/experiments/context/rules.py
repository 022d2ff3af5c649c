"""Chapter 4's verdicts: the rules the chapter states before the results, and the scorecard rows they decide."""

from __future__ import annotations

import numpy as np
import pandas as pd

from sticky import claims, stats
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


FREQUENCY_RESISTS = claims.Claim(
    "frequency_predicts_override_resistance", "the more frequent the fact, the less often counterfactual context "
    "overrides it (Spearman rho, per-fact in-context rate vs log frequency)", "paper finding", "negative", 0.3,
    "a moderate rank correlation (the first edition's threshold)", "fact", paper="negative (strong priors resist)")


def frequency_row(fit: dict, note: str = "") -> dict:
    """Rule 1: rho over facts (one row per fact, the interval a bootstrap over facts); fewer than MIN_FACTS facts
    cannot be read."""
    unmet = f"{fit['facts']} facts, fewer than {MIN_FACTS}" if fit["facts"] < MIN_FACTS else None
    return claims.row(FREQUENCY_RESISTS, fit["rho_fact"], fit["rho_fact_low"], fit["rho_fact_high"], unmet=unmet,
                      note=f"{fit['facts']} facts{note}",
                      verdict_v1=verdict_frequency(fit["rho_fact"], fit["rho_fact_high"], fit["facts"]))


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


def one_head_claim(baseline_rate: float) -> claims.Claim:
    """Rule 3 as a size claim on the paired lift: reaching the paper's 88% from our plain model's held-out rate
    is a lift of 0.88 - baseline."""
    return claims.Claim("one_head_scaling", "scaling one head lifts the held-out in-context rate to the paper's 88% "
                        "(paired lift over the plain model)", "paper finding", "positive", LIFT,
                        "10 points, the same bar as for prompts", "fact",
                        paper=round(PAPER_ONE_HEAD_RATE - baseline_rate, 4), size=True)


def one_head_row(evaluation: pd.DataFrame, setting: dict, facts: int) -> dict:
    """Rule 3: the chosen head's paired lift over held-out facts, read only with >= MIN_FACTS facts and a plain
    rate below HIGH_RATE (else there is nothing to lift); the placebo heads' best lift is reported beside."""
    base = evaluation[evaluation.kind == "baseline"].iloc[0]
    chosen = evaluation[evaluation.kind == "chosen"].iloc[0]
    placebo = evaluation[evaluation.kind == "placebo"]
    unmet = (f"{facts} held-out facts, fewer than {MIN_FACTS}" if facts < MIN_FACTS else
             f"the plain rate is already {base.in_context_rate:.2f}: nothing to lift"
             if base.in_context_rate >= HIGH_RATE else None)
    placebo_text = f"best placebo lift {placebo.lift.max():+.2f}" if len(placebo) else "no placebo"
    return claims.row(one_head_claim(base.in_context_rate), chosen.lift, chosen.lift_low, chosen.lift_high,
                      unmet=unmet, verdict_v1=verdict_one_head(evaluation, facts),
                      note=f"{setting['role']} head {setting['head']} x {setting['factor']:g}: rate "
                           f"{base.in_context_rate:.2f} -> {chosen.in_context_rate:.2f}; {placebo_text}; {facts} facts")


# 4b. The first edition's claim holds by construction (a never-written fact leaves no information in the
# weights), so it is shown as a design check; the claim is tested where it can fail: facts seen 1-5 times that
# the plain prompt misses, against the same prompt's "recovery" of absent facts (the no-knowledge baseline).
RARE_MENTIONS = 5
ABSENT_AT_CHANCE = claims.Claim(
    "prompting_cannot_inject_absent_knowledge", "elicitation does not recover never-written facts (best prompt's "
    "held-out accuracy minus chance)", "design check", "null", LIFT,
    "10 points; it holds by construction: the weights hold nothing about a fact never written", "fact",
    paper="elicitation ~ chance")
LACKED_STAYS_LACKED = claims.Claim(
    "prompting_cannot_teach_what_it_lacks", f"prompt search does not recover facts seen 1-{RARE_MENTIONS} times "
    "that the plain prompt misses (best prompt's held-out accuracy on them minus its accuracy on absent facts "
    "the plain prompt misses)", "seed hypothesis", "null", LIFT, "one such fact in ten", "fact",
    paper="only what the weights hold")


def absent_row(table: pd.DataFrame) -> dict:
    """The design check: the best prompt's held-out accuracy on absent facts (one prompt per fact) minus chance,
    its Wilson interval shifted by chance; read only if the same search recalls >= 0.8 of the frequent facts."""
    get = lambda group, condition: table[(table.group == group) & (table.condition == condition)]
    best, freq = get("absent", "elicitation (best prompt)"), get("frequent", "elicitation (best prompt)")
    acc = lambda condition: get("absent", condition).accuracy.iloc[0] if len(get("absent", condition)) else np.nan
    v1 = verdict_absent(table)
    if best.empty:
        return claims.row(ABSENT_AT_CHANCE, np.nan, np.nan, np.nan, verdict_v1=v1)
    a = best.iloc[0]
    return claims.row(ABSENT_AT_CHANCE, a.accuracy - a.chance, a.ci_low - a.chance, a.ci_high - a.chance,
                      unmet=search_failed(freq), verdict_v1=v1,
                      note=f"accuracy {a.accuracy:.2f} of {int(a.n)} facts, chance {a.chance:.2f}; the fact in "
                           f"context {acc('fact in context'):.2f}, fine-tuning {acc('fine-tuning'):.2f}")


def search_failed(frequent: pd.DataFrame) -> str | None:
    """The elicitation search's positive control: it must recall >= 0.8 of the frequent facts, or what it finds
    elsewhere says nothing about what prompting can do."""
    if not frequent.empty and frequent.accuracy.iloc[0] >= 0.8:
        return None
    return "the search does not recall the frequent facts (accuracy < 0.8): the search itself failed"


def lacked_facts(search: pd.DataFrame, plain: str) -> pd.DataFrame:
    """Facts the plain prompt misses, seen 1-RARE_MENTIONS times ('rare') or never ('absent'): every candidate's
    rows on them, with that label in ``lacked``."""
    presence = search.presence.astype(str)
    mentions = pd.to_numeric(presence.where(presence != "absent"), errors="coerce")
    kind = np.where(presence == "absent", "absent", np.where(mentions <= RARE_MENTIONS, "rare", ""))
    missed = set(search[(search.candidate == plain) & ~search.correct.astype(bool)].fact)
    return search.assign(lacked=kind)[(kind != "") & search.fact.isin(missed)]


def lacked_row(search: pd.DataFrame, plain: str) -> dict:
    """The claim of 4b: the candidate that recovers most rare, plain-missed facts on the selection split; its
    held-out recovery of such facts minus its recovery of held-out absent facts the plain prompt misses
    (Newcombe interval; one prompt per fact, so the fact is the unit). Read only with >= MIN_FACTS such rare
    facts and if the candidate recalls >= 0.8 of the held-out frequent facts (the positive control)."""
    lacked = lacked_facts(search, plain)
    rare_sel = lacked[(lacked.lacked == "rare") & (lacked.split == "selection")]
    if rare_sel.empty:
        return claims.row(LACKED_STAYS_LACKED, np.nan, np.nan, np.nan,
                          unmet="no rare fact that the plain prompt misses")
    choice = rare_sel.groupby("candidate").correct.mean().idxmax()
    held = lacked[(lacked.split == "held-out") & (lacked.candidate == choice)]
    rare, absent = (held[held.lacked == k].correct.astype(bool) for k in ("rare", "absent"))
    if rare.empty or absent.empty:
        return claims.row(LACKED_STAYS_LACKED, np.nan, np.nan, np.nan, unmet="no held-out rare or absent fact")
    diff, low, high = stats.newcombe_difference(int(rare.sum()), len(rare), int(absent.sum()), len(absent))
    frequent = search[(search.group == "frequent") & (search.split == "held-out") & (search.candidate == choice)]
    unmet = (f"{len(rare)} rare held-out facts the plain prompt misses, fewer than {MIN_FACTS}"
             if len(rare) < MIN_FACTS else search_failed(pd.DataFrame(dict(accuracy=[frequent.correct.mean()]))))
    return claims.row(LACKED_STAYS_LACKED, diff, low, high, unmet=unmet,
                      note=f"best prompt: {choice}; recovers {rare.mean():.2f} of {len(rare)} rare facts and "
                           f"{absent.mean():.2f} of {len(absent)} absent ones; {frequent.correct.mean():.2f} of "
                           "the frequent")


def scorecard(rows_by_track: dict[str, list[dict]], profile: str) -> pd.DataFrame:
    return scorecards.frame(CHAPTER, [dict(r, track=t) for t, rs in rows_by_track.items() for r in rs], profile)
