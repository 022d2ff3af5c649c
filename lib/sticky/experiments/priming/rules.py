"""Chapter 1's claims, declared in ``sticky.claims`` before their numbers (p_before predicts priming, a step
separates strong from weak priming, three spaced exposures prime, each mitigation cuts priming by the paper's
50%), and the scorecard rows that decide them.

The ``verdict_*`` functions are the rules of the book's first edition (v1), kept because the page shows their
verdict beside the new one: the rules were revised after review, when their numbers had been seen."""

from __future__ import annotations

import math

import numpy as np
import pandas as pd

from sticky import claims, stats
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


PRIOR_PREDICTS_PRIMING = claims.Claim(
    "p_before_predicts_priming", "log P_before and log S_prime are negatively rank-correlated", "paper finding",
    "negative", 0.3, "a moderate rank correlation; the paper reports a strong one", "keyword",
    paper="strong negative")
STEP_GAP = claims.Claim(
    "threshold_1e-3", "a step in P_before separates strong from weak priming (gap in decades of S_prime below minus "
    "above the fitted break)", "paper finding", "positive", 0.5,
    "half a decade: a threefold difference in priming", "keyword", paper="a threshold near 1e-3")
SPACED = claims.Claim(
    "three_spaced_exposures", "after 3 exposures spaced every 20 minibatches, log P_before and log S_prime are "
    "negatively rank-correlated (the paper's relationship, established after three spaced presentations)",
    "paper finding", "negative", 0.3, "a moderate rank correlation, as for rule 1", "keyword",
    paper="strong negative")


def mitigation_claim(mitigation: str) -> claims.Claim:
    """Each mitigation cuts priming by at least the paper's lower figure, 50% (a size claim)."""
    slug = mitigation.replace(" ", "_").replace("%", "pct")
    return claims.Claim(f"mitigation_{slug}", f"{mitigation} cuts priming by 50-95% (share of log S_prime removed)",
                        "paper finding", "positive", 0.25, "half the paper's lowest reduction", "keyword",
                        paper=0.5, size=True)


def threshold_rows(fit: dict, vocab_size: int) -> list[dict]:
    """Rules 1 and 2, with intervals over keywords; the v1 verdicts read the intervals over texts. The break is
    also stated in units of 1/V (a uniform next-token probability): 1e-3 is 262x uniform in Gemma's vocabulary
    and 2x in a 2k-word one, so the paper's threshold and ours are compared there. Beside rho: rho of the null
    model in which learning leaves every keyword at one constant P_after (S_prime = P_after / P_before then
    falls with the prior by arithmetic alone)."""
    thr = lambda v: f"{10 ** v:.1e}" if np.isfinite(v) else "n/a"
    uniform = lambda v: f"{10 ** v * vocab_size:.3g}/V" if np.isfinite(v) else "n/a"
    where = (f"break at {thr(fit['threshold_log10'])} = {uniform(fit['threshold_log10'])} (V = {vocab_size:,}; "
             f"the paper's 1e-3 = {PAPER_THRESHOLD * vocab_size:.3g}/V here), interval over texts "
             f"[{thr(fit['threshold_low'])}, {thr(fit['threshold_high'])}]; {fit['keywords']} keywords, "
             f"{fit['n']} texts")
    null = (f"; a constant P_after would give rho = {fit['rho_null']:.2f}, P_after itself has rho = "
            f"{fit['rho_after']:.2f} [{fit['rho_after_kw_low']:.2f}, {fit['rho_after_kw_high']:.2f}]"
            if "rho_null" in fit else "")
    return [
        claims.row(PRIOR_PREDICTS_PRIMING, fit["rho_prime"], fit["rho_prime_kw_low"], fit["rho_prime_kw_high"],
                   note=f"{fit['keywords']} keywords, {fit['n']} texts{null}",
                   verdict_v1=verdict_rho(fit["rho_prime"], fit["rho_prime_high"], fit["n"])),
        claims.row(STEP_GAP, fit["gap"], fit["gap_kw_low"], fit["gap_kw_high"], note=where,
                   verdict_v1=verdict_threshold(fit["threshold_low"], fit["threshold_high"], fit["gap_low"], fit["n"])),
    ]


def exposure_rows(spaced: pd.DataFrame, summary: pd.DataFrame, seed: int = 0) -> list[dict]:
    """Rule 3: rho of log S_prime after 3 spaced exposures against log P_before, over keywords (``spaced``: one
    text per keyword, every keyword). The v1 verdict read the mean priming of the low-prior half (``summary``)."""
    consec = summary[summary.condition.str.endswith("consecutive")].iloc[0]
    half = summary[summary.condition == "3 spaced"]
    three = spaced[spaced.condition == "3 spaced"]
    if half.empty or three.empty:
        return []
    s = half.iloc[0]
    x, y = np.log10(three.p_before.to_numpy()), np.log10(three.priming_score.to_numpy())
    rho, low, high = (stats.spearman(x, y)[0], *stats.bootstrap(x, y, stats.spearman_rho, n_resamples=1000,
                                                                 seed=seed)[1:]) if len(x) >= 5 else (np.nan,) * 3
    return [claims.row(SPACED, rho, low, high,
                       note=f"{len(three)} keywords; v1's quantity, the low-prior half's mean log10 S_prime: "
                            f"{s.log10_priming:.2f} [{s.low:.2f}, {s.high:.2f}], consecutive "
                            f"{consec.log10_priming:.2f}",
                       verdict_v1=verdict_spaced(s.low, s.log10_priming, consec.low, consec.log10_priming))]


def mitigation_rows(summary: pd.DataFrame, base_low: float) -> list[dict]:
    """Rule 4 per mitigation, on the jackknife t interval over keywords; memorization kept is reported beside it
    (v1 read the percentile bootstrap over texts and also required >= 50% kept)."""
    rows = []
    for r in summary.itertuples():
        stone = r.mitigation == "stepping stone"
        rows.append(claims.row(
            mitigation_claim(r.mitigation), r.priming_reduction, r.reduction_t_low, r.reduction_t_high,
            r.reduction_df, note=f"{r.texts} texts; memorization kept: {r.memorization_kept:.0%}",
            verdict_v1=verdict_mitigation(r.priming_reduction, r.reduction_low, r.memorization_kept, base_low,
                                          r.p_before_rise_decades if stone else None)))
    return rows


def scorecard(rows_by_track: dict[str, list[dict]], profile: str) -> pd.DataFrame:
    """The chapter's scorecard rows, from rows grouped by track."""
    return scorecards.frame(CHAPTER, [dict(r, track=t) for t, rs in rows_by_track.items() for r in rs], profile)
