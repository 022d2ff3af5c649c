"""Intervals and tests the chapters quote. Each function is checked against a hand computation in tests."""

from __future__ import annotations

import math
from typing import Callable, Sequence

import numpy as np


def wilson_interval(successes: int, n: int, confidence: float = 0.95) -> tuple[float, float]:
    """Wilson score interval for a binomial proportion (good at 0% and 100%, unlike the normal one)."""
    if n <= 0:
        raise ValueError(f"n={n!r}; allowed: an int > 0")
    if not 0 <= successes <= n:
        raise ValueError(f"successes={successes!r}; allowed: an int in [0, n={n}]")
    from scipy.stats import norm

    z = norm.ppf(0.5 + confidence / 2)
    p = successes / n
    centre = (p + z * z / (2 * n)) / (1 + z * z / n)
    half = z / (1 + z * z / n) * math.sqrt(p * (1 - p) / n + z * z / (4 * n * n))
    return max(0.0, centre - half), min(1.0, centre + half)


def newcombe_difference(k1: int, n1: int, k2: int, n2: int, confidence: float = 0.95) -> tuple[float, float, float]:
    """(p1 - p2, low, high): the difference of two independent proportions with Newcombe's hybrid score interval
    (method 10 of Newcombe 1998), built from each proportion's Wilson interval: right at 0% and 100%, where a
    t interval on 0/1 values collapses to a point."""
    p1, p2 = k1 / n1, k2 / n2
    (l1, u1), (l2, u2) = wilson_interval(k1, n1, confidence), wilson_interval(k2, n2, confidence)
    diff = p1 - p2
    return diff, diff - math.hypot(p1 - l1, u2 - p2), diff + math.hypot(u1 - p1, p2 - l2)


def bootstrap_interval(
    values: Sequence[float] | np.ndarray,
    statistic: Callable[[np.ndarray], float] = np.mean,
    confidence: float = 0.95,
    n_resamples: int = 2000,
    seed: int = 0,
) -> tuple[float, float]:
    """Percentile bootstrap interval of ``statistic`` over resamples of ``values`` (rows, if 2-D)."""
    values = np.asarray(values)
    if len(values) < 2:
        raise ValueError(f"{len(values)} values; allowed: at least 2")
    rng = np.random.default_rng(seed)
    idx = rng.integers(0, len(values), size=(n_resamples, len(values)))
    stats = np.array([statistic(values[i]) for i in idx])
    alpha = (1 - confidence) / 2
    return float(np.quantile(stats, alpha)), float(np.quantile(stats, 1 - alpha))


def log10_span(values: Sequence[float]) -> float:
    """Decades between the largest and the smallest positive value."""
    values = np.asarray(values, dtype=float)
    if (values <= 0).any():
        raise ValueError("values must be > 0; allowed: positive probabilities")
    return float(np.log10(values.max() / values.min()))


# ---------------------------------------------------------------------------------------------------------
# threshold (change-point) fits, paired bootstrap, rank correlation: chapter 1 and later


def _breaks(x: np.ndarray, min_side: int) -> np.ndarray:
    """Candidate break points: midpoints between consecutive distinct sorted x, >= ``min_side`` points each side."""
    xs = np.sort(x)
    cands = [(xs[i - 1] + xs[i]) / 2 for i in range(min_side, len(xs) - min_side + 1) if xs[i - 1] < xs[i]]
    return np.asarray(cands, dtype=float)


def change_point_fit(x, y, kind: str = "step", min_side: int = 2) -> dict:
    """Least-squares threshold model of ``y`` against ``x``, the break chosen over every candidate midpoint.

    ``kind="step"`` (piecewise constant): y = below for x < threshold, above for x >= threshold.
    ``kind="hinge"``: y = above + slope * max(0, threshold - x), flat above the threshold.
    Returns threshold, below (the step's mean below it; for a hinge the fitted value at min(x)), above, slope
    (hinge only, else nan), sse and n. Ties in the SSE go to the smallest threshold.
    """
    x, y = np.asarray(x, dtype=float), np.asarray(y, dtype=float)
    if x.shape != y.shape or x.ndim != 1:
        raise ValueError(f"x {x.shape} and y {y.shape}; allowed: two 1-D arrays of the same length")
    if kind not in ("step", "hinge"):
        raise ValueError(f"kind={kind!r}; allowed: step, hinge")
    if not np.isfinite(x).all() or not np.isfinite(y).all():
        raise ValueError("x and y must be finite; allowed: finite floats (take logs of positive values)")
    breaks = _breaks(x, min_side)
    if len(breaks) == 0:
        raise ValueError(
            f"{len(x)} points ({len(np.unique(x))} distinct x); allowed: at least {2 * min_side} distinct x")
    best = None
    for c in breaks:
        if kind == "step":
            lo, hi = y[x < c], y[x >= c]
            sse = ((lo - lo.mean()) ** 2).sum() + ((hi - hi.mean()) ** 2).sum()
            fit = dict(threshold=float(c), below=float(lo.mean()), above=float(hi.mean()), slope=float("nan"))
        else:
            design = np.column_stack([np.ones_like(x), np.maximum(0.0, c - x)])
            coef, *_ = np.linalg.lstsq(design, y, rcond=None)
            sse = float(((design @ coef - y) ** 2).sum())
            fit = dict(threshold=float(c), below=float(coef[0] + coef[1] * (c - x.min())), above=float(coef[0]),
                       slope=float(coef[1]))
        if best is None or sse < best["sse"] - 1e-12:
            best = {**fit, "sse": float(sse), "n": len(x)}
    return best


def _by_unit(columns, units) -> tuple[list[np.ndarray], np.ndarray, list]:
    """The columns and unit labels as arrays, checked to match row for row, and the units in order of first
    appearance (what both resampling schemes, bootstrap and jackknife, draw or leave out)."""
    columns = [np.asarray(c) for c in columns]
    units = np.asarray(units)
    if any(len(c) != len(units) for c in columns):
        raise ValueError(f"columns of lengths {[len(c) for c in columns]} and {len(units)} units; "
                         "allowed: one unit label per row")
    return columns, units, list(dict.fromkeys(units.tolist()))


def cluster_bootstrap(statistic: Callable[..., float], *columns, units, confidence: float = 0.95,
                      n_resamples: int = 2000, seed: int = 0, min_units: int = 5) -> tuple[float, float, float]:
    """(estimate, low, high): ``statistic(*columns)`` and its percentile interval over resamples of whole units
    (every row of a drawn unit enters, a unit drawn twice enters twice). Resamples on which the statistic fails
    (ValueError, e.g. too few distinct x for a change point) or is not finite are skipped; the interval is nan
    with fewer than ``min_units`` units (a percentile bootstrap needs enough distinct resamples) or when fewer
    than half the resamples give a value."""
    columns, units, labels = _by_unit(columns, units)
    estimate = float(statistic(*columns))
    if len(labels) < min_units:
        return estimate, float("nan"), float("nan")
    rows = [np.flatnonzero(units == u) for u in labels]
    rng = np.random.default_rng(seed)
    values = []
    for draw in rng.integers(0, len(labels), size=(n_resamples, len(labels))):
        idx = np.concatenate([rows[i] for i in draw])
        try:
            v = float(statistic(*(c[idx] for c in columns)))
        except ValueError:
            continue
        if np.isfinite(v):
            values.append(v)
    if len(values) < n_resamples / 2:
        return estimate, float("nan"), float("nan")
    alpha = (1 - confidence) / 2
    return estimate, float(np.quantile(values, alpha)), float(np.quantile(values, 1 - alpha))


def jackknife_t(statistic: Callable[..., float], *columns, units,
                confidence: float = 0.95) -> tuple[float, float, float, int]:
    """(estimate, low, high, df): ``statistic(*columns)`` with a t interval (df = units - 1) on the jackknife's
    standard error over whole units (leave one unit out; pseudo-values n theta - (n - 1) theta_-i). For the
    few units a claim sometimes has (5-8 keywords), where a percentile bootstrap covers too little (about 85%
    for a nominal 95% at 6 units, ``tests/test_stats.py``); for a mean it is exactly the t interval."""
    from scipy import stats as sstats

    columns, units, labels = _by_unit(columns, units)
    estimate = float(statistic(*columns))
    n = len(labels)
    if n < 2 or not np.isfinite(estimate):
        return estimate, float("nan"), float("nan"), max(n - 1, 0)
    left_out = np.array([float(statistic(*(c[units != u] for c in columns))) for u in labels])
    pseudo = n * estimate - (n - 1) * left_out
    half = float(sstats.t.ppf(0.5 + confidence / 2, n - 1) * pseudo.std(ddof=1) / np.sqrt(n))
    return estimate, estimate - half, estimate + half, n - 1


def bootstrap(x, y, statistic: Callable[[np.ndarray, np.ndarray], float], confidence: float = 0.95,
              n_resamples: int = 1000, seed: int = 0) -> tuple[float, float, float]:
    """(estimate, low, high): ``statistic(x, y)`` and its percentile bootstrap interval over resampled pairs
    (``cluster_bootstrap`` with every pair its own unit)."""
    x, y = np.asarray(x, dtype=float), np.asarray(y, dtype=float)
    if len(x) != len(y) or len(x) < 2:
        raise ValueError(f"{len(x)} x and {len(y)} y; allowed: paired arrays of at least 2 values")
    return cluster_bootstrap(statistic, x, y, units=np.arange(len(x)), confidence=confidence,
                             n_resamples=n_resamples, seed=seed, min_units=2)


def _ranks(v: np.ndarray) -> np.ndarray:
    """Ranks 1..n, ties given their average rank."""
    order = np.argsort(v, kind="mergesort")
    ranks = np.empty(len(v), dtype=float)
    sorted_v = v[order]
    i = 0
    while i < len(v):
        j = i
        while j + 1 < len(v) and sorted_v[j + 1] == sorted_v[i]:
            j += 1
        ranks[order[i:j + 1]] = (i + j) / 2 + 1
        i = j + 1
    return ranks


def spearman(x, y) -> tuple[float, float]:
    """Spearman's rho (Pearson on average ranks) and its two-sided p-value from the t approximation, df n-2
    (as ``scipy.stats.spearmanr``). rho is nan when either variable is constant."""
    x, y = np.asarray(x, dtype=float), np.asarray(y, dtype=float)
    if x.shape != y.shape or x.ndim != 1 or len(x) < 3:
        raise ValueError(f"x {x.shape} and y {y.shape}; allowed: two 1-D arrays of the same length >= 3")
    rx, ry = _ranks(x), _ranks(y)
    rx, ry = rx - rx.mean(), ry - ry.mean()
    denom = math.sqrt((rx * rx).sum() * (ry * ry).sum())
    if denom == 0:
        return float("nan"), float("nan")
    rho = float(np.clip((rx * ry).sum() / denom, -1.0, 1.0))
    n = len(x)
    if abs(rho) == 1.0:
        return rho, 0.0
    from scipy.stats import t as student_t

    t = rho * math.sqrt((n - 2) / (1 - rho * rho))
    return rho, float(2 * student_t.sf(abs(t), n - 2))


def spearman_rho(x, y) -> float:
    """Spearman's rho alone, as a statistic to resample (nan when a variable is constant)."""
    return spearman(x, y)[0]


def fisher_greater(successes_a: int, n_a: int, successes_b: int, n_b: int) -> float:
    """One-sided Fisher exact test p-value that the success rate of a exceeds that of b."""
    if n_a <= 0 or n_b <= 0:
        raise ValueError(f"n_a={n_a!r}, n_b={n_b!r}; allowed: ints > 0")
    from scipy.stats import fisher_exact

    table = [[successes_a, n_a - successes_a], [successes_b, n_b - successes_b]]
    return float(fisher_exact(table, alternative="greater")[1])


def permutation_greater(a, b, n_resamples: int = 5000, seed: int = 0) -> float:
    """One-sided permutation test p-value that mean(a) > mean(b): the share of label shuffles (plus the
    observed labelling) whose difference of means is at least the observed one."""
    a, b = np.asarray(a, dtype=float), np.asarray(b, dtype=float)
    if len(a) == 0 or len(b) == 0:
        raise ValueError("an empty sample; allowed: at least one value in each")
    pooled = np.concatenate([a, b])
    observed = a.mean() - b.mean()
    rng = np.random.default_rng(seed)
    hits = 1
    for _ in range(n_resamples):
        perm = rng.permutation(pooled)
        if perm[: len(a)].mean() - perm[len(a):].mean() >= observed - 1e-12:
            hits += 1
    return hits / (n_resamples + 1)


# ---------------------------------------------------------------------------------------------------------
# grouping and clustering scores with permutation p-values: chapter 3


# metric -> True when higher means a better grouping (Davies-Bouldin is lower-is-better)
GROUPING_METRICS = {"silhouette": True, "calinski_harabasz": True, "davies_bouldin": False}


def grouping_score(X, labels, metric: str) -> float:
    """How well ``labels`` separate the rows of ``X`` (Euclidean): silhouette, Calinski-Harabasz or
    Davies-Bouldin (sklearn's definitions)."""
    from sklearn import metrics as skm

    if metric not in GROUPING_METRICS:
        raise ValueError(f"metric={metric!r}; allowed: {', '.join(GROUPING_METRICS)}")
    X, labels = np.asarray(X, dtype=float), np.asarray(labels)
    if len(np.unique(labels)) < 2 or len(np.unique(labels)) >= len(labels):
        raise ValueError(f"{len(np.unique(labels))} groups of {len(labels)} rows; allowed: 2 <= groups < rows")
    fn = {"silhouette": skm.silhouette_score, "calinski_harabasz": skm.calinski_harabasz_score,
          "davies_bouldin": skm.davies_bouldin_score}[metric]
    return float(fn(X, labels))


def _permutation_p(observed: float, permuted: np.ndarray, higher_is_better: bool) -> float:
    """Share of permutations (plus the observed labelling) at least as good as the observed value."""
    hits = (permuted >= observed - 1e-12) if higher_is_better else (permuted <= observed + 1e-12)
    return float((1 + hits.sum()) / (1 + len(permuted)))


def grouping_permutation_test(X, labels, metric: str, n_permutations: int = 1000,
                              seed: int = 0) -> tuple[float, float]:
    """(score, p): ``grouping_score`` of ``labels`` and its one-sided permutation p-value, the share of random
    relabellings (same group sizes) that score at least as well (lower for Davies-Bouldin)."""
    labels = np.asarray(labels)
    observed = grouping_score(X, labels, metric)
    rng = np.random.default_rng(seed)
    permuted = np.array([grouping_score(X, rng.permutation(labels), metric) for _ in range(n_permutations)])
    return observed, _permutation_p(observed, permuted, GROUPING_METRICS[metric])


def agreement_permutation_test(clusters, labels, metric: str = "ari", n_permutations: int = 1000,
                               seed: int = 0) -> tuple[float, float]:
    """(agreement, p): adjusted Rand index (``ari``) or normalised mutual information (``nmi``) between
    ``clusters`` and ``labels``, and the share of relabellings of ``labels`` that agree at least as well."""
    from sklearn import metrics as skm

    fns = {"ari": skm.adjusted_rand_score, "nmi": skm.normalized_mutual_info_score}
    if metric not in fns:
        raise ValueError(f"metric={metric!r}; allowed: {', '.join(fns)}")
    clusters, labels = np.asarray(clusters), np.asarray(labels)
    if clusters.shape != labels.shape:
        raise ValueError(f"clusters {clusters.shape} and labels {labels.shape}; allowed: one label per row")
    observed = float(fns[metric](labels, clusters))
    rng = np.random.default_rng(seed)
    permuted = np.array([fns[metric](rng.permutation(labels), clusters) for _ in range(n_permutations)])
    return observed, _permutation_p(observed, permuted, True)
