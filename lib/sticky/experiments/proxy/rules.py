"""Chapter 5's verdicts (the rules stated in the chapter before the results) and the scorecard."""

from __future__ import annotations

import numpy as np
import pandas as pd

from sticky import scorecard as scorecards

from .parameters import CHAPTER, PAPER_GAP_CLOSED


def verdict_gap(est: float, low: float, dmb_low: float, paper_low: float = PAPER_GAP_CLOSED[0]) -> str:
    """Gap closed on one task. Inconclusive unless direct tuning beats the base (interval of direct - base above
    0). Reproduced when the estimate is >= the paper's 88% minus 10 points (>= 0.78) and its interval's low end
    is above 0.5; partly when the interval's low end is above 0 otherwise; not reproduced when it reaches 0."""
    if not (np.isfinite(dmb_low) and dmb_low > 0) or not np.isfinite(low):
        return "inconclusive"
    if low <= 0:
        return "not reproduced"
    return "reproduced" if est >= paper_low - 0.10 and low > 0.5 else "partly"


def verdict_knowledge(ci_low: float, ci_high: float, base_minus_direct_low: float) -> str:
    """Proxy keeps knowledge better than direct tuning (knowledge task, paired proxy - direct over items).
    Reproduced when the interval lies above 0; not reproduced when it lies below 0; when it contains 0:
    'partly' if direct tuning did forget (the base beats direct with its interval above 0: then the proxy at
    least did not do worse), else inconclusive (nothing was forgotten, so there was nothing to keep)."""
    if not (np.isfinite(ci_low) and np.isfinite(ci_high)):
        return "inconclusive"
    if ci_low > 0:
        return "reproduced"
    if ci_high < 0:
        return "not reproduced"
    return "partly" if base_minus_direct_low > 0 else "inconclusive"


def verdict_style(diff: float, low: float, high: float) -> str:
    """Tuning shifts style tokens more than fact tokens: per item, mean probability gain on style tokens minus
    on the fact token (proxy vs base). Reproduced when the interval lies above 0; not reproduced when it
    reaches 0 from below (<= 0 entirely); otherwise partly."""
    if not (np.isfinite(low) and np.isfinite(high)):
        return "inconclusive"
    if low > 0:
        return "reproduced"
    return "not reproduced" if high <= 0 else "partly"


def verdict_lower_layers(lower_share: float, restore_lower_gain: float, restore_upper_gain: float,
                         tuned_loss: float) -> str:
    """The note's claim: direct tuning corrupts knowledge in lower layers. Inconclusive when direct tuning lost
    fewer than 3 points of closed-book top-1. Reproduced when the lower half of the layers holds most of the
    weight change (share > 0.5) AND restoring a lower-half layer recovers more top-1 than restoring any
    upper-half layer; partly when only one of the two holds; not reproduced when neither does."""
    if not np.isfinite(tuned_loss) or tuned_loss < 0.03:
        return "inconclusive"
    hits = int(lower_share > 0.5) + int(restore_lower_gain > restore_upper_gain)
    return {2: "reproduced", 1: "partly", 0: "not reproduced"}[hits]


def lower_layer_evidence(change: pd.DataFrame, restore: pd.DataFrame) -> dict:
    """Numbers the layer verdict reads: the lower half's share of the summed per-layer relative change, the best
    top-1 gain from restoring a lower-half / upper-half layer, and the top-1 lost to direct tuning."""
    layers = change.dropna(subset=["layer"])
    per_layer = layers.groupby("layer").relative_change.sum()
    n = len(per_layer)
    lower = per_layer[per_layer.index < n / 2].sum()
    tuned = restore.set_index("restored").top1
    gains = {int(r.split()[1]): tuned[r] - tuned["none (tuned)"] for r in tuned.index if r.startswith("layer ")}
    low_gain = max([g for l, g in gains.items() if l <= n / 2] or [np.nan])
    up_gain = max([g for l, g in gains.items() if l > n / 2] or [np.nan])
    return dict(lower_share=float(lower / per_layer.sum()), restore_lower_gain=float(low_gain),
                restore_upper_gain=float(up_gain), tuned_loss=float(tuned["all (base)"] - tuned["none (tuned)"]),
                layers=n)


def scorecard(rows: list[dict], profile: str) -> pd.DataFrame:
    return scorecards.frame(CHAPTER, rows, profile)
