"""Chapter 3's verdict rules, as the page states them before the results: the gate (rule 0: the backbones
differ as planted), backbone against instruction data (rules 1 and 2, and rule 5 on the real tuned models),
the seeds' variation (rule 3), the real models' framing effect (rule 4), and the scorecard rows that apply
them."""

from __future__ import annotations

import numpy as np
import pandas as pd

from sticky import scorecard as scorecards
from sticky import stats

from .data import BIASES
from .parameters import CHAPTER, PAPER

# ---------------------------------------------------------------------------------------------------------
# the gate


def profile_gate(backbone_scores: dict[str, pd.DataFrame], profiles: dict[str, dict], min_diff: float) -> pd.DataFrame:
    """Per bias, the measured difference of the two backbones' mean scores next to the planted difference of
    dials; ``agrees``: where the dials differ, the measured difference has the planted sign and is at least
    ``min_diff`` in size."""
    (na, sa), (nb, sb) = list(backbone_scores.items())
    ma, mb = sa.groupby("bias").score.mean(), sb.groupby("bias").score.mean()
    rows = []
    for bias in BIASES:
        planted = profiles[na][bias] - profiles[nb][bias]
        measured = float(ma[bias] - mb[bias])
        rows.append(dict(bias=bias, planted_diff=planted, measured_diff=measured, score_a=float(ma[bias]),
                         score_b=float(mb[bias]),
                         agrees=bool(planted != 0 and np.sign(measured) == np.sign(planted)
                                     and abs(measured) >= min_diff)))
    return pd.DataFrame(rows)


def gate_passes(gate: pd.DataFrame, share: float = 0.75) -> bool:
    """The backbones differ as planted when at least ``share`` of the biases with different dials agree."""
    differing = gate[gate.planted_diff != 0]
    return len(differing) > 0 and differing.agrees.mean() >= share


# ---------------------------------------------------------------------------------------------------------
# verdicts and scorecard


def verdict_grouping(backbone_value: float, data_value: float, backbone_p: float, gate_ok: bool,
                     alpha: float = 0.05) -> str:
    """Backbone grouping beats instruction grouping (silhouette or ARI, higher is better): inconclusive when the
    backbones failed the gate; reproduced when the backbone value is higher and its permutation p < alpha;
    partly when it is higher but p >= alpha; not reproduced when the instruction grouping is as good or
    better."""
    if not gate_ok or not (np.isfinite(backbone_value) and np.isfinite(data_value)):
        return "inconclusive"
    if backbone_value <= data_value:
        return "not reproduced"
    return "reproduced" if backbone_p < alpha else "partly"


def verdict_seeds(ratio: float, low: float = 0.1, high: float = 1.0) -> str:
    """Seeds add moderate variation: the mean seed sd over the mean between-backbone difference is in
    [low, high) (reproduced); below low (partly: seeds add almost nothing); high or more (not reproduced:
    seeds swamp the backbone)."""
    if not np.isfinite(ratio):
        return "inconclusive"
    if ratio >= high:
        return "not reproduced"
    return "reproduced" if ratio >= low else "partly"


def verdict_real(mean: float, low: float, high: float, paper_low: float = PAPER["framing_olmo_low"]) -> str:
    """A real model shows the framing effect of the paper's size: interval above 0 and mean at least
    ``paper_low`` (the smallest OLMo variant's) reproduced; interval above 0 with a smaller mean partly; below 0
    not reproduced; covering 0 inconclusive."""
    if not (np.isfinite(low) and np.isfinite(high)):
        return "inconclusive"
    if low > 0:
        return "reproduced" if mean >= paper_low else "partly"
    if high < 0:
        return "not reproduced"
    return "inconclusive"


def grouping_rows(analysis: pd.DataFrame, gate_ok: bool, setting: str) -> list[dict]:
    """Rules 1 and 2 as scorecard rows; ``setting`` (e.g. the instruction dose) goes into the claim's text."""
    a = analysis.set_index("grouping")
    b, d = a.loc["backbone"], a.loc["instruction data"]
    return [
        dict(claim_id="silhouette_backbone_beats_data",
             claim=f"grouping models by backbone gives a higher silhouette than by instruction data (ours: "
                   f"{b.silhouette:.3f}, p = {b.silhouette_p:.3g} vs {d.silhouette:.3f}, p = {d.silhouette_p:.3g}; "
                   f"{setting})",
             paper_value=f"{PAPER['silhouette_backbone']} (p<0.001) vs {PAPER['silhouette_data']} (p=0.044)",
             our_value=float(b.silhouette - d.silhouette), ci_low=np.nan, ci_high=np.nan,
             verdict=verdict_grouping(b.silhouette, d.silhouette, b.silhouette_p, gate_ok)),
        dict(claim_id="kmeans_ari_backbone_beats_data",
             claim=f"KMeans (k=2) clusters agree with the backbones more than with the instruction data (ARI "
                   f"{b.ari:.2f}, p = {b.ari_p:.3g} vs {d.ari:.2f}, p = {d.ari_p:.3g})",
             paper_value="1.0 vs -0.11 (Llama2/Mistral)", our_value=float(b.ari - d.ari), ci_low=np.nan,
             ci_high=np.nan, verdict=verdict_grouping(b.ari, d.ari, b.ari_p, gate_ok)),
    ]


def seed_rows(seeds: pd.DataFrame, ratio_ci: tuple[float, float]) -> list[dict]:
    ratio = seed_ratio(seeds)
    return [dict(claim_id="seeds_moderate_variation",
                 claim="seeds add moderate variation: mean per-bias seed sd / mean between-backbone difference",
                 paper_value="moderate (per-bias sd often large)", our_value=ratio, ci_low=ratio_ci[0],
                 ci_high=ratio_ci[1], verdict=verdict_seeds(ratio))]


def seed_ratio(seeds: pd.DataFrame) -> float:
    diff = seeds.backbone_diff.mean()
    return float(seeds.seed_sd.mean() / diff) if diff > 0 else float("nan")


def seed_ratio_interval(seeds: pd.DataFrame, seed: int = 0) -> tuple[float, float]:
    """Bootstrap over biases of the seed-sd / backbone-difference ratio."""
    if len(seeds) < 2:
        return float("nan"), float("nan")
    values = seeds[["seed_sd", "backbone_diff"]].to_numpy()
    ratio = lambda v: v[:, 0].mean() / v[:, 1].mean() if v[:, 1].mean() > 0 else np.nan
    return stats.bootstrap_interval(values, ratio, seed=seed, n_resamples=1000)


def scorecard(rows_by_track: dict[str, list[dict]], profile: str) -> pd.DataFrame:
    return scorecards.frame(CHAPTER, [dict(r, track=t) for t, rs in rows_by_track.items() for r in rs], profile)
