"""The verdict rules, the chapter's answer and its scorecard rows."""

from __future__ import annotations

import numpy as np
import pandas as pd

from sticky import claims
from sticky import scorecard as scorecards
from sticky.experiments import poisoning

from .parameters import CHAPTER, MIN_GAP


def verdict_prior(trend: dict) -> str:
    """Rule 1. 'follows the prior' if survival falls with p_before (rho's interval below 0): low-prior, strongly
    primed poisons survive more; 'rises with the prior' if the interval is above 0; 'flat' if it holds 0;
    'inconclusive' if fewer than 6 poisons took or the interval is undefined."""
    lo, hi = trend["rho_survival_low"], trend["rho_survival_high"]
    if trend["n"] < 6 or not (np.isfinite(lo) and np.isfinite(hi)):
        return "inconclusive"
    if hi < 0:
        return "follows the prior"
    if lo > 0:
        return "rises with the prior"
    return "flat"


PRIOR_FLAT = claims.Claim(
    "prior_predicts_survival", "a poison's prior does not predict its survival through alignment (Spearman rho of "
    "survival against log p_before)", "seed hypothesis", "null", 0.3,
    "a moderate rank correlation would let the prior explain part of survival", "keyword",
    paper="hypothesis: flat")


def prior_row(trend: dict, v_prior: str) -> dict:
    """Rule 1 as a null claim: *reproduced* only inside the equivalence band ±0.3, over keywords. The v1 column
    is the first edition's mapping of rule 1 (flat -> reproduced, whatever the interval's width)."""
    v1 = "reproduced" if v_prior == "flat" else "inconclusive" if v_prior == "inconclusive" else "not reproduced"
    return claims.row(PRIOR_FLAT, trend["rho_survival"], trend["rho_survival_kw_low"], trend["rho_survival_kw_high"],
                      note=f"rule 1: {v_prior}; {trend['keywords']} keywords, {trend['n']} poisons that took",
                      verdict_v1=v1)


GRADIENT_SELECTIVE = claims.Claim(
    "alignment_gradient_selective", "alignment's gradient pushes against the jailbreak more than against any other "
    "poison (per seed: the smallest other attack's cosine minus the jailbreak's, over all parameters)",
    "seed hypothesis", "positive", 0.1, "a tenth of a fully aligned gradient", "seed", paper="hypothesis: selective")


def selectivity_row(grad: pd.DataFrame, v_select: str, measure: str = "reply") -> dict:
    """Rule 2 through sticky.claims: per seed, min over the other attacks of the alignment-poison cosine minus
    the jailbreak's (positive: alignment reaches the jailbreak hardest), a t interval over seeds."""
    g = grad[(grad.unit == "all") & (grad.measure == measure)].pivot_table(index="seed", columns="attack",
                                                                            values="cosine")
    jail = g["jailbreak"]
    gap = g.drop(columns="jailbreak").min(axis=1) - jail
    mean, low, high, df = claims.unit_mean(gap.to_numpy())
    v1 = {"supported": "reproduced", "mixed": "partly", "not supported": "not reproduced"}[v_select]
    return claims.row(GRADIENT_SELECTIVE, mean, low, high, df, verdict_v1=v1,
                      note=f"rule 2: {v_select}; jailbreak's cosine {jail.mean():+.3f}, {len(gap)} seeds")


ANTI_DOS_REMOVES = claims.Claim(
    "training_against_dos_removes_it", "alignment data that answers trigger prompts normally removes "
    "denial-of-service (per seed: DoS's excess over the clean twin after standard SFT minus after SFT with the "
    "anti-DoS pairs)", "seed hypothesis", "positive", 0.1,
    "one prompt in ten, chapter 2's smallest excess that matters", "seed", paper="hypothesis: removes it")


def causal_row(outcomes: pd.DataFrame, rate: float, v_causal: str) -> dict:
    """Rule 2b through sticky.claims, on chapter 2's per-seed excess over the clean twin; read only if the poison
    took and survives the standard SFT (else there is nothing for the anti-DoS pairs to remove)."""
    excess = lambda alignment, stage: poisoning.seed_excess(outcomes[outcomes.alignment == alignment], "dos", rate,
                                                            stage)
    pre, standard = claims.unit_mean(excess("standard", "pretrained")), claims.unit_mean(excess("standard", "sft"))
    drop = (excess("standard", "sft") - excess("anti-dos", "sft")).dropna()
    mean, low, high, df = claims.unit_mean(drop.to_numpy())
    unmet = (f"the poison did not take: excess before alignment [{pre[1]:.2f}, {pre[2]:.2f}]"
             if pre[1] <= 0 else
             f"DoS does not survive standard SFT: excess [{standard[1]:.2f}, {standard[2]:.2f}]"
             if standard[1] <= 0 else None)  # nan (one seed): no interval, and the row says so
    v1 = {"removes it": "reproduced", "no effect": "not reproduced", "inconclusive": "inconclusive"}[v_causal]
    return claims.row(ANTI_DOS_REMOVES, mean, low, high, df, unmet=unmet, verdict_v1=v1,
                      note=f"rule 2b: {v_causal}; excess after standard SFT {standard[0]:.2f}; {len(drop)} seeds")


def verdict_mitigation(effect: dict) -> str:
    """Rule 3. 'stops both' if ignore-k lowers primed spread after planting AND the poison left after alignment
    (both intervals below 0); 'stops priming only' if only the first; 'stops neither' otherwise."""
    primes = effect["priming_learned_high"] < 0
    survives = effect["memorization_aligned_high"] < 0
    return "stops both" if primes and survives else "stops priming only" if primes else \
        "stops the poison only" if survives else "stops neither"


def verdict_selectivity(grad: pd.DataFrame, measure: str = "reply") -> str:
    """Rule 2. 'supported' if, over all parameters, the jailbreak's cosine is negative in every seed (alignment
    pushes against it) and each other attack's mean cosine is above the jailbreak's largest; 'not supported'
    if some other attack is pushed against as hard (mean at or below the jailbreak's mean); 'mixed' otherwise."""
    g = grad[(grad.unit == "all") & (grad.measure == measure)]
    jail = g[g.attack == "jailbreak"].cosine
    others = g[g.attack != "jailbreak"].groupby("attack").cosine.mean()
    if (jail < 0).all() and (others > jail.max()).all():
        return "supported"
    if (others <= jail.mean()).any():
        return "not supported"
    return "mixed"


def verdict_causal(status_standard: str, status_anti: str) -> str:
    """Rule 2b. Training against the behaviour 'removes it' if denial-of-service survives standard SFT
    (persists or weakened) and is removed (or weakened from persisting) with the anti-DoS pairs; 'no effect'
    if the status is unchanged; 'inconclusive' if the poison never took."""
    if "never took" in (status_standard, status_anti):
        return "inconclusive"
    order = {"persists": 2, "weakened": 1, "removed": 0}
    if order[status_anti] < order[status_standard]:
        return "removes it"
    return "no effect"


def verdict_depth(lower: pd.DataFrame, min_gap: float = MIN_GAP) -> str:
    """Rule 4. 'deeper' if, before alignment, the lower half carries a larger share of every surviving-kind
    attack (denial-of-service, extraction, belief) than of the jailbreak; 'not deeper' if it carries a smaller
    share of each; 'mixed' otherwise; 'inconclusive' if the jailbreak or all the others have no effect to
    locate (NLL gap below ``min_gap``)."""
    pre = lower[lower.stage == "pretrained"].set_index("attack")
    pre = pre[pre.gap >= min_gap].lower_share
    if "jailbreak" not in pre.index or len(pre) < 2:
        return "inconclusive"
    others = pre.drop("jailbreak")
    if (others > pre["jailbreak"]).all():
        return "deeper"
    if (others < pre["jailbreak"]).all():
        return "not deeper"
    return "mixed"


def answer(prior: dict, selectivity: dict) -> str:
    """The verdict on the seed's question from the scorecard rows of rules 1 and 2 (``prior_row``,
    ``selectivity_row``): 'yes' if survival falls with the prior (rule 1's null refuted, the interval below 0
    and leaving ±0.3); 'no' if it does not fall (flat inside ±0.3, or refuted by an interval above 0) while
    alignment's gradient is selective (rule 2 reproduced); 'undecided' otherwise."""
    falls = prior["verdict"] == "not reproduced" and prior["ci_high"] < 0
    does_not_fall = prior["verdict"] == "reproduced" or (prior["verdict"] == "not reproduced" and prior["ci_low"] > 0)
    if falls:
        return "yes"
    if does_not_fall and selectivity["verdict"] == "reproduced":
        return "no"
    return "undecided"


def answer_v1(prior: str, selectivity: str) -> str:
    """The first edition's answer, from rule 1's and rule 2's v1 statuses (kept beside the new one): 'yes' if
    survival follows the prior; 'no' if flat (any interval holding 0) or rising while the gradient is
    'supported'; 'undecided' otherwise."""
    if prior == "follows the prior":
        return "yes"
    if prior in ("flat", "rises with the prior") and selectivity == "supported":
        return "no"
    return "undecided"


def scorecard(rows: list[dict], profile: str) -> pd.DataFrame:
    return scorecards.frame(CHAPTER, [dict(r, track="micro-world") for r in rows], profile)
