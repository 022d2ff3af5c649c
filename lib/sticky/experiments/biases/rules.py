"""Chapter 3's claims and the rows that decide them: the gate (rule 0: the backbones differ as planted, a
precondition of rules 1 and 2), backbone against instruction data (rules 1 and 2, and rule 5 on the real
tuned models), the seeds' variation (rule 3), the real models' framing effect (rule 4), the exposure at
which the instruction data overturns the backbone (the dose sweep, rule 6), and a planted bias under data
that pushes against it (the uncrossed sweep, rule 7). Each claim is declared in ``sticky.claims`` and decided
over its unit: the backbone x instruction-set *cell* for the cross-tuning (four cells, not twelve models: a
cell's seeds share its backbone and its data), the scenario for the real models, the planted bias for rule 7.

The ``verdict_*`` functions are the rules of the book's first edition (v1), kept because the page shows their
verdict beside the new one: the rules were revised after review, when their numbers had been seen."""

from __future__ import annotations

import numpy as np
import pandas as pd

from sticky import claims
from sticky import scorecard as scorecards

from .data import BIASES
from .measurement import bias_means, model_vectors
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
# the first edition's rules (v1): they give the verdict_v1 column


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


# ---------------------------------------------------------------------------------------------------------
# the claims, declared before their numbers (revised after review: see the chapter's section on it)

GROUPING_SILHOUETTE = claims.Claim(
    "silhouette_backbone_beats_data",
    "the backbone x instruction-set cells group by backbone more than by instruction data (per cell: the "
    "silhouette of its seed-mean score vector grouped by backbone minus grouped by instruction data)",
    "paper finding", "positive", 0.1, "a tenth of the silhouette's span from no structure (0) to perfect (1)",
    "cell", paper="0.066 vs 0.034 (OLMo-7B/T5-11B, silhouette over the 12 models, not per cell)")
GROUPING_KMEANS = claims.Claim(
    "kmeans_backbone_beats_data",
    "KMeans (k = 2) on the tuned models puts a cell's models with the same-backbone cell's more than with the "
    "same-instruction-set cell's (per cell: the share of such pairs in one cluster, the one minus the other)",
    "paper finding", "positive", 0.25, "one pair in four placed by backbone rather than by instruction set",
    "cell", paper="ARI 1.0 vs -0.11 (Llama2-7B/Mistral-7B; for OLMo-7B/T5-11B the authors' files give 0.046 for both)")
SEEDS_MODERATE = claims.Claim(
    "seeds_moderate_variation",
    "seeds move a cell's bias scores less than the backbone does (per cell: log2 of the mean seed sd over the "
    "mean difference from the cell with the same instruction set and the other backbone)",
    "paper finding", "negative", 1.0, "a factor of two between seed spread and backbone difference", "cell",
    paper="moderate: seed sd often large per bias, the backbone grouping still clear (OLMo-7B/T5-11B)")
FRAMING = claims.Claim(
    "framing_effect", "a framing effect: the gamble is chosen more under the loss frame (score = "
    "P(gamble | loss) - P(gamble | gain))", "paper finding", "positive", 0.1,
    "ten points of the gamble's share, under a third of the smallest OLMo variant's", "scenario",
    paper="0.36 to 0.66 (every OLMo-7B variant)")
DOSE_TIPS = claims.Claim(
    "instruction_dose_can_overturn_backbone",
    "the design lets instruction data win: at the largest swept dose the cells group by instruction data more "
    "than by backbone (per cell: rule 1's silhouette difference, backbone minus instruction data, below 0)",
    "design check", "negative", 0.1, "rule 1's smallest effect, the other way round", "cell")
SURVIVES_OPPOSING = claims.Claim(
    "planted_bias_survives_opposing_data",
    "a planted bias keeps its sign under instruction data that carries the other backbone's dials, at the "
    "strongest such data swept with fewer bias examples than planted rows (per planted bias: A-tuned minus "
    "B-tuned bias mean, signed so that the planted difference is positive, mean over seeds)",
    "seed hypothesis", "positive", 0.05, "the gate's smallest difference that shows a planted bias",
    "planted bias", paper="hypothesis: merely swayed, whatever fine-tuning data is poured on top")


# ---------------------------------------------------------------------------------------------------------
# statistics per cell (the unit: backbone x instruction set; a cell's seeds share its backbone and its data,
# so they are averaged inside it, never counted as independent models)


def cell_vectors(scores: pd.DataFrame) -> tuple[np.ndarray, pd.DataFrame]:
    """Each backbone x instruction-set cell as the mean over its seeds of their bias x scenario vectors;
    returns (one row per cell, the cells' labels)."""
    X, labels = model_vectors(scores)
    cells = labels[["backbone", "data"]].drop_duplicates().reset_index(drop=True)
    rows = [X[((labels.backbone == b) & (labels.data == d)).to_numpy()].mean(0)
            for b, d in cells.itertuples(index=False)]
    return np.stack(rows), cells


def cell_silhouettes(scores: pd.DataFrame) -> pd.DataFrame:
    """Per cell: the silhouette of its seed-mean vector among the cells' vectors, grouped by backbone and by
    instruction data, and the difference (backbone minus instruction data)."""
    from sklearn.metrics import silhouette_samples

    X, cells = cell_vectors(scores)
    by_backbone = silhouette_samples(X, cells.backbone.to_numpy())
    by_data = silhouette_samples(X, cells.data.to_numpy())
    return cells.assign(silhouette_backbone=by_backbone, silhouette_data=by_data, difference=by_backbone - by_data)


def cell_coclustering(labels: pd.DataFrame, clusters) -> pd.DataFrame:
    """Per cell, from the KMeans clusters of the models (in the order of ``labels``): the share of pairs (one of
    its models, one of the same-backbone cell's) in one cluster, the same share with the same-instruction-set
    cell's models, and the difference. +1 when the clusters are the backbones, -1 when they are the data."""
    lab = labels.assign(cluster=np.asarray(clusters))
    rows = []
    for (b, d), mine in lab.groupby(["backbone", "data"], sort=False):
        def together(other: pd.DataFrame) -> float:
            return float(np.mean([c == o for c in mine.cluster for o in other.cluster]))

        with_b = together(lab[(lab.backbone == b) & (lab.data != d)])
        with_d = together(lab[(lab.backbone != b) & (lab.data == d)])
        rows.append(dict(backbone=b, data=d, with_backbone=with_b, with_data=with_d, difference=with_b - with_d))
    return pd.DataFrame(rows)


def cell_seed_ratios(scores: pd.DataFrame) -> pd.DataFrame:
    """Per cell: the seed sd (over its seeds of each seed's bias mean, averaged over biases), the backbone
    difference (mean over biases of the absolute difference of its bias means from the mean of the cells with
    the same instruction set and another backbone; the two cells of an instruction set share it) and log2 of
    their ratio."""
    cell = bias_means(scores).groupby(["backbone", "data", "bias"]).score
    sd, mean = cell.std(ddof=1), cell.mean()
    backbones = mean.index.get_level_values("backbone").unique()
    rows = []
    for b, d in sd.index.droplevel("bias").unique():
        other = pd.concat([mean.loc[(o, d)] for o in backbones if o != b], axis=1).mean(axis=1)
        seed_sd, diff = float(sd.loc[(b, d)].mean()), float((mean.loc[(b, d)] - other).abs().mean())
        rows.append(dict(backbone=b, data=d, seed_sd=seed_sd, backbone_diff=diff,
                         log2_ratio=float(np.log2(seed_sd / diff)) if seed_sd > 0 and diff > 0 else float("nan")))
    return pd.DataFrame(rows)


def exposure_ratio(dose: float, P) -> float:
    """The instruction dose in exposure units: bias examples seen in fine-tuning per planted row seen in
    continued pretraining (expected counts: both trainers draw their rows uniformly, ``dose`` of the
    instruction rows and ``P.bias_share`` of the continued-pretraining rows carry a bias; the batch size is
    the same in both and cancels)."""
    return dose * P.sft_steps / (P.bias_share * P.backbone_steps)


def sweep_cells(sweep_scores: pd.DataFrame, P) -> pd.DataFrame:
    """Per swept dose: its exposure ratio, and the cells' mean silhouette difference (backbone minus
    instruction data) with its 95% t interval over cells and the effect it could detect at 80% power."""
    rows = []
    for dose, g in sweep_scores.groupby("dose"):
        diff = cell_silhouettes(g).difference
        mean, low, high, df = claims.unit_mean(diff)
        rows.append(dict(dose=dose, exposure=exposure_ratio(dose, P), cells=len(diff), difference=mean, low=low,
                         high=high, mde=claims.decide(GROUPING_SILHOUETTE, low, high, df).mde))
    return pd.DataFrame(rows)


def tipping_exposure(cells_by_dose: pd.DataFrame) -> float:
    """The smallest swept exposure at which the cells' mean silhouette difference is 0 or below (nan when the
    backbone grouping stays ahead at every dose)."""
    tipped = cells_by_dose[cells_by_dose.difference <= 0]
    return float(tipped.exposure.min()) if len(tipped) else float("nan")


def against_differences(against_scores: pd.DataFrame, P) -> pd.DataFrame:
    """The uncrossed sweep (``against_sweep``), per dose and planted bias (a bias whose dials differ between the
    backbones): its exposure and the A-tuned minus B-tuned bias mean signed by the planted difference (above 0:
    the backbone's bias still shows), per seed and averaged over seeds."""
    means = against_scores.groupby(["dose", "seed", "backbone", "bias"]).score.mean().unstack("backbone")
    rows = []
    for (dose, bias), g in means.groupby(level=["dose", "bias"], sort=True):
        planted = P.profiles["A"][bias] - P.profiles["B"][bias]
        if planted != 0:
            signed = np.sign(planted) * (g["A"] - g["B"])
            rows.append(dict(dose=dose, exposure=exposure_ratio(dose, P), bias=bias, difference=float(signed.mean()),
                             seed_low=float(signed.min()), seed_high=float(signed.max()), seeds=len(signed)))
    return pd.DataFrame(rows)


def flip_exposures(differences: pd.DataFrame) -> pd.Series:
    """Per planted bias, the exposure at which its signed difference first reaches 0, linear between the two
    swept exposures around the crossing; inf when it stays above 0 at every exposure swept."""
    def first_zero(curve: pd.DataFrame) -> float:
        curve = curve.sort_values("exposure")
        x, y = curve.exposure.to_numpy(), curve.difference.to_numpy()
        below = np.flatnonzero(y <= 0)
        if not len(below):
            return float("inf")
        i = below[0]
        return float(x[0]) if i == 0 else float(x[i - 1] + (x[i] - x[i - 1]) * y[i - 1] / (y[i - 1] - y[i]))

    return differences.groupby("bias").apply(first_zero, include_groups=False).rename("flip_exposure")


def opposing_tested(differences: pd.DataFrame) -> pd.DataFrame:
    """Rule 7's rows: the planted biases at the largest dose above 0 whose exposure is at most 1 (fewer bias
    examples seen in fine-tuning than planted rows in continued pretraining); empty when no dose qualifies."""
    tested = differences[(differences.exposure <= 1) & (differences.dose > 0)]
    return tested[tested.dose == tested.dose.max()]


def against_rows(differences: pd.DataFrame, gate_ok: bool) -> list[dict]:
    """Rule 7, the seed hypothesis, over planted biases at ``opposing_tested``'s dose, with rule 0's gate as its
    precondition (a bias never planted cannot keep its sign); each bias's flip exposure goes into the note."""
    flips = ", ".join(f"{b} {'never' if np.isinf(e) else f'{e:.2g}'}" for b, e in flip_exposures(differences).items())
    top = opposing_tested(differences)
    if top.empty:
        return [claims.row(SURVIVES_OPPOSING, np.nan, np.nan, np.nan,
                           unmet="no swept dose above 0 has an exposure of at most 1", note=f"flips at: {flips}")]
    unmet = None if gate_ok else "the backbones failed the gate: no planted difference to keep"
    note = (f"dose {top.dose.iloc[0]:g}, exposure {top.exposure.iloc[0]:.2g}, {len(top)} planted biases; the signed "
            f"difference first reaches 0 at exposure: {flips}")
    return [claims.row(SURVIVES_OPPOSING, *claims.unit_mean(top.difference), unmet=unmet, note=note)]


# ---------------------------------------------------------------------------------------------------------
# scorecard rows: the revised claims decided over cells, the v1 verdict beside each


def cell_row(claim: claims.Claim, values, verdict_v1: str | None, unmet: str | None = None, note: str = "") -> dict:
    """``claim`` decided on the t interval over cells of ``values`` (one per cell). Cells that all give the same
    value (up to rounding) leave no spread to build a t interval from: inconclusive, not a zero-width interval.
    (With four cells an exact test could not decide either: a sign test's smallest two-sided p is 2/16.)"""
    finite = np.asarray(values, dtype=float)
    finite = finite[np.isfinite(finite)]
    mean, low, high, df = claims.unit_mean(finite)
    if unmet is None and len(finite) >= 2 and np.allclose(finite, finite[0], rtol=1e-9, atol=1e-12):
        unmet = f"all {len(finite)} cells give {mean:.3g}: no spread between cells to build an interval from"
    return claims.row(claim, mean, low, high, df, unmet=unmet, verdict_v1=verdict_v1,
                      note=f"{len(finite)} cells" + (f"; {note}" if note else ""))


def grouping_rows(scores: pd.DataFrame, analysis: pd.DataFrame, gate_ok: bool, setting: str) -> list[dict]:
    """Rules 1 and 2 over cells; the v1 verdicts read the model-level silhouette, ARI and permutation p
    (which treat the models as independent). ``setting`` (e.g. the instruction dose) goes into the note."""
    a = analysis.set_index("grouping")
    b, d = a.loc["backbone"], a.loc["instruction data"]
    _, labels = model_vectors(scores)
    unmet = None if gate_ok else "the backbones failed the gate: no planted difference for the tuned models to keep"
    return [
        cell_row(GROUPING_SILHOUETTE, cell_silhouettes(scores).difference,
                  verdict_grouping(b.silhouette, d.silhouette, b.silhouette_p, gate_ok), unmet,
                  f"{setting}; over the {len(labels)} models (v1): {b.silhouette:.3f}, p = {b.silhouette_p:.3g} vs "
                  f"{d.silhouette:.3f}, p = {d.silhouette_p:.3g}"),
        cell_row(GROUPING_KMEANS, cell_coclustering(labels, analysis.attrs["clusters"]).difference,
                  verdict_grouping(b.ari, d.ari, b.ari_p, gate_ok), unmet,
                  f"{setting}; ARI over the models (v1): {b.ari:.2f}, p = {b.ari_p:.3g} vs {d.ari:.2f}"),
    ]


def seed_rows(scores: pd.DataFrame, seed_table: pd.DataFrame) -> list[dict]:
    """Rule 3 over cells; the v1 verdict reads the ratio of means over biases (``seed_ratio``)."""
    ratio = seed_ratio(seed_table)
    return [cell_row(SEEDS_MODERATE, cell_seed_ratios(scores).log2_ratio, verdict_seeds(ratio),
                      note=f"v1 ratio over biases: {ratio:.2f}")]


def seed_ratio(seeds: pd.DataFrame) -> float:
    """v1's statistic: the mean seed sd over the mean between-backbone difference, both over biases."""
    diff = seeds.backbone_diff.mean()
    return float(seeds.seed_sd.mean() / diff) if diff > 0 else float("nan")


def real_framing_rows(real_scores: pd.DataFrame, real_profile: pd.DataFrame) -> dict[str, list[dict]]:
    """Rule 4 per real model: the mean framing score with its t interval over scenarios; the v1 verdict reads
    the bootstrap interval of ``real_profile``."""
    v1 = real_profile[real_profile.bias == "framing"].set_index("model")
    out = {}
    for model, g in real_scores[real_scores.bias == "framing"].groupby("model", sort=False):
        mean, low, high, df = claims.unit_mean(g.score.to_numpy(), g.scenario.to_numpy())
        r = v1.loc[model]
        out[model] = [claims.row(FRAMING, mean, low, high, df, verdict_v1=verdict_real(r.score, r.low, r.high),
                                 note=f"{df + 1} scenarios")]
    return out


def dose_rows(cells_by_dose: pd.DataFrame, sweep_scores: pd.DataFrame) -> list[dict]:
    """The design check at the largest swept dose, over its cells (without it, rule 1 could hold by
    construction: instruction data too weak to ever win); the exposure at which the cells' mean difference
    first falls to 0 goes into the note (a crossing read off one sweep has no interval)."""
    top = cells_by_dose.loc[cells_by_dose.dose.idxmax()]
    tip = tipping_exposure(cells_by_dose)
    where = (f"the mean first falls to 0 or below at an exposure of {tip:.3g}" if np.isfinite(tip) else
             f"the mean stays above 0 up to the largest exposure swept, {top.exposure:.3g}")
    diff = cell_silhouettes(sweep_scores[sweep_scores.dose == top.dose]).difference
    return [cell_row(DOSE_TIPS, diff, None, note=f"dose {top.dose:g}, exposure {top.exposure:.3g}; {where}")]


def scorecard(rows_by_track: dict[str, list[dict]], profile: str) -> pd.DataFrame:
    return scorecards.frame(CHAPTER, [dict(r, track=t) for t, rs in rows_by_track.items() for r in rs], profile)
