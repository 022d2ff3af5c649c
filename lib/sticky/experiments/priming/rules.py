"""Chapter 1's verdict rules, as the page states them before the results (p_before predicts priming, a
threshold near 1e-3, three spaced exposures suffice, each mitigation cuts priming and keeps memorization),
and the scorecard rows that apply them."""

from __future__ import annotations

import math

import numpy as np
import pandas as pd

from sticky import scorecard as scorecards  # the module; `scorecard` below is this chapter's rows

from .parameters import CHAPTER, PAPER_THRESHOLD

MIN_TEXTS = 10


def verdict_rho(rho: float, high: float, n: int) -> str:
    """P_before predicts priming: rho <= -0.5 with its interval below 0 (reproduced); interval below 0 but
    weaker (partly); otherwise not reproduced. Fewer than MIN_TEXTS texts: inconclusive."""
    if n < MIN_TEXTS or not np.isfinite(high):
        return "inconclusive"
    if high < 0:
        return "reproduced" if rho <= -0.5 else "partly"
    return "not reproduced"


def verdict_threshold(low: float, high: float, gap_low: float, n: int) -> str:
    """A threshold near 1e-3: priming below the fitted break exceeds priming above it (gap interval above 0),
    and the break's interval contains log10 1e-3 = -3 (reproduced) or not (partly: a threshold, elsewhere).
    No gap: not reproduced. Fewer than MIN_TEXTS texts or no interval: inconclusive."""
    if n < MIN_TEXTS or not (np.isfinite(low) and np.isfinite(high) and np.isfinite(gap_low)):
        return "inconclusive"
    if gap_low <= 0:
        return "not reproduced"
    return "reproduced" if low <= math.log10(PAPER_THRESHOLD) <= high else "partly"


def verdict_spaced(spaced_low: float, spaced_mean: float, consec_low: float, consec_mean: float) -> str:
    """3 spaced exposures suffice: the consecutive run must prime (its interval of mean log10 S_prime above
    0), else inconclusive. 3 spaced prime (interval above 0) and reach >= half the consecutive log priming:
    reproduced; prime but less: partly; no priming: not reproduced."""
    if not (np.isfinite(consec_low) and consec_low > 0) or not np.isfinite(spaced_low):
        return "inconclusive"
    if spaced_low <= 0:
        return "not reproduced"
    return "reproduced" if spaced_mean >= 0.5 * consec_mean else "partly"


def verdict_mitigation(reduction: float, reduction_low: float, kept: float, base_low: float,
                       p_before_rise: float | None = None) -> str:
    """A mitigation cuts priming 50-95% and keeps memorization: needs priming to cut (unmitigated interval of
    mean log10 S_prime above 0), else inconclusive; a stepping stone must raise p_before, else inconclusive.
    Reduction >= 50% with its interval above 0 and memorization kept >= 50%: reproduced; a reduction whose
    interval is above 0 otherwise: partly; else not reproduced."""
    if not (np.isfinite(base_low) and base_low > 0) or not np.isfinite(reduction_low):
        return "inconclusive"
    if p_before_rise is not None and not (np.isfinite(p_before_rise) and p_before_rise > 0):
        return "inconclusive"
    if reduction_low <= 0:
        return "not reproduced"
    return "reproduced" if reduction >= 0.5 and kept >= 0.5 else "partly"


def threshold_rows(fit: dict, track: str, profile: str) -> list[dict]:
    thr = lambda v: 10 ** v if np.isfinite(v) else np.nan
    return [
        dict(claim_id="p_before_predicts_priming", claim="log P_before and log S_prime are negatively rank-correlated",
             paper_value="strong negative", our_value=fit["rho_prime"], ci_low=fit["rho_prime_low"],
             ci_high=fit["rho_prime_high"], verdict=verdict_rho(fit["rho_prime"], fit["rho_prime_high"], fit["n"])),
        dict(claim_id="threshold_1e-3", claim="a P_before threshold near 1e-3 separates strong from weak priming",
             paper_value=PAPER_THRESHOLD, our_value=thr(fit["threshold_log10"]), ci_low=thr(fit["threshold_low"]),
             ci_high=thr(fit["threshold_high"]),
             verdict=verdict_threshold(fit["threshold_low"], fit["threshold_high"], fit["gap_low"], fit["n"])),
    ]


def exposure_rows(summary: pd.DataFrame) -> list[dict]:
    consec = summary[summary.condition.str.endswith("consecutive")].iloc[0]
    spaced = summary[summary.condition == "3 spaced"]
    if spaced.empty:
        return []
    s = spaced.iloc[0]
    return [dict(claim_id="three_spaced_exposures", claim="3 exposures spaced every 20 minibatches suffice to prime",
                 paper_value="sufficient", our_value=10 ** s.log10_priming, ci_low=10 ** s.low, ci_high=10 ** s.high,
                 verdict=verdict_spaced(s.low, s.log10_priming, consec.low, consec.log10_priming))]


def mitigation_rows(summary: pd.DataFrame, base_low: float) -> list[dict]:
    rows = []
    for r in summary.itertuples():
        stone = r.mitigation == "stepping stone"
        rows.append(dict(
            claim_id=f"mitigation_{r.mitigation.replace(' ', '_').replace('%', 'pct')}",
            claim=f"{r.mitigation} cuts priming 50-95% (fraction of log S_prime removed) and keeps memorization "
                  f"(kept: {r.memorization_kept:.0%})",
            paper_value="0.50-0.95", our_value=r.priming_reduction, ci_low=r.reduction_low, ci_high=r.reduction_high,
            verdict=verdict_mitigation(r.priming_reduction, r.reduction_low, r.memorization_kept, base_low,
                                       r.p_before_rise_decades if stone else None)))
    return rows


def scorecard(rows_by_track: dict[str, list[dict]], profile: str) -> pd.DataFrame:
    """The chapter's scorecard rows, from rows grouped by track."""
    return scorecards.frame(CHAPTER, [dict(r, track=t) for t, rs in rows_by_track.items() for r in rs], profile)
