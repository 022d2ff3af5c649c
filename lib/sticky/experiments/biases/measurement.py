"""Chapter 3's measurements: the bias scores, measuring a micro-world model on the probe battery (cached), and
the analyses of the measured models.

1. ``measure_micro`` / ``measure_entry``: every model answers every scenario in both variants; the
   chosen-option probabilities (renormalised over the two options; for anchoring, the expected number) are
   scored with the card's formulas (``choice_score``, ``ratio_scale_score``).
2. ``grouping_analysis``: silhouette, Calinski-Harabasz, Davies-Bouldin of the model vectors grouped by
   backbone and by instruction data, each with a permutation p-value; KMeans(2) ARI/NMI against each grouping;
   ``seed_analysis``: per-bias seed sd against between-backbone differences.
"""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pandas as pd

from sticky import models, probe, stats, train
from sticky.store import Recipe, Store

from .data import BIAS_TYPES, NUMBER_SCALE

# ---------------------------------------------------------------------------------------------------------
# scores (pure functions; checked by hand in the tests)


def choice_score(p_treatment, p_control) -> np.ndarray:
    """B = P(biased | treatment) - P(biased | control), in [-1, 1]; 0 = unbiased. Each P is the biased
    option's share of the two options' probability mass."""
    return np.asarray(p_treatment, dtype=float) - np.asarray(p_control, dtype=float)


def ratio_scale_score(a1, a2, x1, x2, k: float = 1.0) -> np.ndarray:
    """The card's score for ratio-scale answers: B = k (|a1 - x1| - |a2 - x2|) / max(|a1 - x1|, |a2 - x2|),
    a1 the control answer, a2 the treatment answer, x1, x2 the reference values (here the anchor in both), k
    the bias's sign. Positive: the treatment answer is closer to the anchor. 0 when both distances are 0."""
    d1 = np.abs(np.asarray(a1, dtype=float) - np.asarray(x1, dtype=float))
    d2 = np.abs(np.asarray(a2, dtype=float) - np.asarray(x2, dtype=float))
    top = np.maximum(d1, d2)
    with np.errstate(invalid="ignore", divide="ignore"):
        return np.where(top > 0, k * (d1 - d2) / np.where(top > 0, top, 1.0), 0.0)


def option_share(p_biased, p_other) -> np.ndarray:
    """The biased option's share of the two options' mass: P(b) / (P(b) + P(o))."""
    p_biased, p_other = np.asarray(p_biased, dtype=float), np.asarray(p_other, dtype=float)
    return p_biased / (p_biased + p_other)


def expected_value(probs: np.ndarray, values: np.ndarray) -> np.ndarray:
    """Expected answer under the probabilities renormalised over the answer values (rows = prompts)."""
    probs = np.asarray(probs, dtype=float)
    return (probs * np.asarray(values, dtype=float)).sum(-1) / probs.sum(-1)


def scenario_scores(items: pd.DataFrame, share: np.ndarray, expected: np.ndarray) -> pd.DataFrame:
    """One score per (bias, scenario) from per-item measurements: ``share`` (the biased option's share; nan
    for numeric items) and ``expected`` (expected number; nan for choice items)."""
    m = items.assign(share=share, expected=expected)
    rows = []
    for (bias, j), g in m.groupby(["bias", "scenario"], sort=False):
        c, t = g[~g.treated].iloc[0], g[g.treated].iloc[0]
        if BIAS_TYPES.get(bias, None) is not None and BIAS_TYPES[bias].numeric or not np.isfinite(c.share):
            score = float(ratio_scale_score(c.expected, t.expected, c.anchor, t.anchor))
        else:
            score = float(choice_score(t.share, c.share))
        rows.append(dict(bias=bias, scenario=j, score=score, control=c.share if np.isfinite(c.share) else c.expected,
                         treatment=t.share if np.isfinite(t.share) else t.expected))
    return pd.DataFrame(rows)


# ---------------------------------------------------------------------------------------------------------
# measuring a micro-world model


def micro_prompts(items: pd.DataFrame, template) -> list[str]:
    return [template.prompt(u) for u in items.user]


def measure_micro(model, tokenizer, items: pd.DataFrame, template) -> pd.DataFrame:
    """Scenario scores of one micro-world model: the next-token probabilities at the answer position of every
    probe, in ``template`` (deterministic: no sampling)."""
    prompts = micro_prompts(items, template)
    vocab = tokenizer.get_vocab()
    numbers = [vocab[w] for w in NUMBER_SCALE]
    matrix = probe.probs_matrix(model, tokenizer, prompts, numbers)  # [n_items, 12]
    is_num = items.bias.map(lambda b: BIAS_TYPES[b].numeric).to_numpy()
    targets_b = [vocab[w] if w else numbers[0] for w in items.biased]
    targets_o = [vocab[w] if w else numbers[0] for w in items.other]
    pb = probe.next_token_probs(model, tokenizer, prompts, targets_b)
    po = probe.next_token_probs(model, tokenizer, prompts, targets_o)
    share = np.where(is_num, np.nan, option_share(pb, po))
    expected = np.where(is_num, expected_value(matrix, np.arange(1, 13)), np.nan)
    mass = np.where(is_num, matrix.sum(-1), pb + po)
    out = scenario_scores(items, share, expected)
    out.attrs["option_mass"] = float(np.mean(mass))
    return out


# The bias battery measured on a stored model.
MEASURE_RECIPE = Recipe("bias-measure", 1)


def measure_entry(entry: Path, world, items: pd.DataFrame, template, P, store: Store) -> pd.DataFrame:
    """``measure_micro`` of a stored model, cached per model entry, template and battery."""
    params = dict(template=template.name, items=items.user.tolist(), biased=items.biased.tolist())

    def compute() -> dict:
        model = models.load_entry(entry, P.device)
        out = measure_micro(model, world.tokenizer, items, template)
        return dict(rows=out.to_dict("records"), option_mass=out.attrs["option_mass"])

    res = store.json(MEASURE_RECIPE, params, compute, inputs=[entry.name], device=train.device_type(P.device))
    out = pd.DataFrame(res["rows"])
    out.attrs["option_mass"] = res["option_mass"]
    return out


# ---------------------------------------------------------------------------------------------------------
# analysis


def model_vectors(scores: pd.DataFrame) -> tuple[np.ndarray, pd.DataFrame]:
    """Each model as its vector of scores at bias x scenario granularity; returns (X, labels per row)."""
    wide = scores.pivot_table(index=["model", "backbone", "data", "seed"], columns=["bias", "scenario"],
                              values="score")
    labels = wide.index.to_frame(index=False)
    return wide.to_numpy(), labels


def grouping_analysis(X: np.ndarray, labels: pd.DataFrame, n_permutations: int, seed: int = 0) -> pd.DataFrame:
    """Silhouette, Calinski-Harabasz and Davies-Bouldin of the grouping by backbone, by instruction data and
    by a random balanced labelling, each with its permutation p-value; then KMeans (k = 2) clusters and their
    ARI / NMI against each grouping, with permutation p-values."""
    from sklearn.cluster import KMeans

    rng = np.random.default_rng(seed)
    groupings = {"backbone": labels.backbone.to_numpy(), "instruction data": labels.data.to_numpy(),
                 "random": rng.permutation(labels.backbone.to_numpy())}
    clusters = KMeans(n_clusters=2, n_init=20, random_state=seed).fit_predict(X)
    rows = []
    for name, g in groupings.items():
        row = dict(grouping=name)
        for metric in stats.GROUPING_METRICS:
            value, p = stats.grouping_permutation_test(X, g, metric, n_permutations=n_permutations, seed=seed)
            row[metric], row[f"{metric}_p"] = value, p
        for metric in ("ari", "nmi"):
            value, p = stats.agreement_permutation_test(clusters, g, metric, n_permutations=n_permutations, seed=seed)
            row[metric], row[f"{metric}_p"] = value, p
        rows.append(row)
    out = pd.DataFrame(rows)
    out.attrs["clusters"] = clusters.tolist()
    return out


def pca_frame(X: np.ndarray, labels: pd.DataFrame) -> pd.DataFrame:
    from sklearn.decomposition import PCA

    pca = PCA(n_components=2).fit(X)
    pcs = pca.transform(X)
    out = labels.assign(pc1=pcs[:, 0], pc2=pcs[:, 1])
    out.attrs["explained"] = pca.explained_variance_ratio_.tolist()
    return out


def bias_means(scores: pd.DataFrame) -> pd.DataFrame:
    """Per model and bias, the mean score over scenarios."""
    return scores.groupby(["model", "backbone", "data", "seed", "bias"], as_index=False).score.mean()


def seed_analysis(scores: pd.DataFrame) -> pd.DataFrame:
    """Per bias: the sd over seeds within each backbone x data cell (mean over the four cells), the absolute
    difference between the two backbones' means, and between the two instruction sets' means."""
    m = bias_means(scores)
    rows = []
    for bias, g in m.groupby("bias", sort=False):
        seed_sd = g.groupby(["backbone", "data"]).score.std(ddof=1).mean()
        by_b = g.groupby("backbone").score.mean()
        by_d = g.groupby("data").score.mean()
        rows.append(dict(bias=bias, seed_sd=float(seed_sd), backbone_diff=float(abs(by_b.iloc[0] - by_b.iloc[-1])),
                         data_diff=float(abs(by_d.iloc[0] - by_d.iloc[-1]))))
    return pd.DataFrame(rows)
