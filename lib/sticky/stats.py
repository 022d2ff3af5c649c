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
