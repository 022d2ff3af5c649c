"""One inference framework for every verdict in the book.

A claim is declared before its numbers exist (``Claim``): its kind (a finding of a cited paper, a hypothesis of
the seed that no cited paper tested, or a design check that holds by construction), the direction it predicts
(or a null), the smallest effect that matters (delta, with its reason), the paper's figure where there is one,
and the unit of replication (seed, keyword, cell, fact, item: never the prompt). Its interval resamples that
unit (``unit_mean`` for a mean over units, ``stats.cluster_bootstrap`` for any other statistic) and ``decide``
turns it into one of three verdicts (or *inconclusive* at once when a precondition of the claim failed, such as
a positive control):

- *reproduced*: the interval excludes 0 in the predicted direction and reaches delta (a size claim must also
  reach the paper's figure: its interval may not lie below it); a null claim is reproduced only when its
  interval lies inside the equivalence band (-delta, +delta);
- *not reproduced*: the interval lies inside (-delta, +delta), whether or not it excludes 0 (an effect too small
  to matter is no reproduction of one that matters), or it excludes the predicted effect from the other side
  (the opposite sign; for a size claim, below the paper's figure); a null claim is not reproduced when its
  interval excludes 0 and leaves the band;
- *inconclusive* otherwise, with the minimum detectable effect at this sample size (``Decision.mde``: the
  effect the run would detect with 80% power).

``tests/test_claims.py`` calibrates the rules by simulation (false positives of a null, power at a known
effect). Design checks are decided the same way and shown, but the scorecard never counts them.
"""

from __future__ import annotations

import math
from dataclasses import dataclass

import numpy as np

KINDS = ("paper finding", "seed hypothesis", "design check")
DIRECTIONS = ("positive", "negative", "null")
CONFIDENCE = 0.95
POWER = 0.80  # the power at which the minimum detectable effect is stated


@dataclass(frozen=True)
class Claim:
    """A claim as the chapter states it before its numbers: what it predicts and how it is replicated.

    ``paper`` is the paper's figure in the same quantity as ours (``None`` when the paper gives none); with
    ``size=True`` the claim is about that figure, not just the direction, and ``paper`` must be a number.
    """

    id: str
    text: str
    kind: str
    direction: str
    delta: float
    delta_reason: str
    unit: str
    paper: float | str | None = None
    size: bool = False

    def __post_init__(self):
        if self.kind not in KINDS:
            raise ValueError(f"claim {self.id!r}: kind={self.kind!r}; allowed: {', '.join(KINDS)}")
        if self.direction not in DIRECTIONS:
            raise ValueError(f"claim {self.id!r}: direction={self.direction!r}; allowed: {', '.join(DIRECTIONS)}")
        if not (isinstance(self.delta, (int, float)) and self.delta > 0 and math.isfinite(self.delta)):
            raise ValueError(f"claim {self.id!r}: delta={self.delta!r}; allowed: a finite number > 0")
        if self.size and not isinstance(self.paper, (int, float)):
            raise ValueError(f"claim {self.id!r}: size=True needs paper as a number; got {self.paper!r}")
        if self.size and self.direction == "null":
            raise ValueError(f"claim {self.id!r}: a null claim cannot be a size claim; allowed: size=False")

    @property
    def sign(self) -> int:
        return {"positive": 1, "negative": -1, "null": 0}[self.direction]

    def rule(self) -> str:
        """The rule in words, for the page and the scorecard."""
        if self.direction == "null":
            return (f"reproduced if the 95% interval (over {self.unit}s) lies inside ±{self.delta:g}; not reproduced "
                    f"if it excludes 0 and leaves that band; otherwise inconclusive")
        side = "above" if self.sign > 0 else "below"
        short = "below" if self.sign > 0 else "above"
        size = f" and does not lie {short} the paper's {self.paper:g}" if self.size else ""
        return (f"reproduced if the 95% interval (over {self.unit}s) lies {side} 0{size} and leaves ±{self.delta:g}; "
                f"not reproduced if it lies inside ±{self.delta:g} (even excluding 0) or on the other side; otherwise "
                "inconclusive")


@dataclass(frozen=True)
class Decision:
    verdict: str
    reason: str
    mde: float  # the effect (in the claim's units) this run detects with 80% power; nan without an interval


def _critical(df: float | None, q: float) -> float:
    from scipy import stats

    return float(stats.norm.ppf(q) if df is None else stats.t.ppf(q, df))


def standard_error(low: float, high: float, df: float | None = None) -> float:
    """The standard error a symmetric 95% interval implies (t with ``df`` degrees of freedom, else normal)."""
    return (high - low) / (2 * _critical(df, 0.5 + CONFIDENCE / 2))


def power(effect: float, se: float, df: float | None = None) -> float:
    """Probability that the 95% interval lies above 0 when the true effect is ``effect`` > 0 and the estimate has
    standard error ``se``: noncentral t with ``df`` degrees of freedom (a mean over df + 1 units), else normal."""
    from scipy import stats

    crit = _critical(df, 0.5 + CONFIDENCE / 2)
    if df is None:
        return float(stats.norm.sf(crit - effect / se))
    return float(stats.nct.sf(crit, df, effect / se))


def minimum_detectable_effect(se: float, df: float | None = None, target: float = POWER) -> float:
    """The smallest true effect detected (interval excludes 0 on its side) with probability ``target``."""
    from scipy.optimize import brentq

    if not (np.isfinite(se) and se > 0):
        return float("nan")
    return float(brentq(lambda e: power(e, se, df) - target, 0.0, 100 * se + 1e-12))


def decide(claim: Claim, low: float, high: float, df: float | None = None, unmet: str | None = None) -> Decision:
    """The verdict of ``claim`` from its 95% interval [low, high] (see the module's docstring for the rule).
    ``df`` is the interval's degrees of freedom when it is a t interval (``unit_mean``), for the MDE. ``unmet``
    names a precondition the run failed (e.g. a positive control): then the interval cannot be read."""
    finite = bool(np.isfinite(low) and np.isfinite(high))
    if finite and low > high:
        raise ValueError(f"claim {claim.id!r}: low={low!r} > high={high!r}; allowed: low <= high")
    mde = minimum_detectable_effect(standard_error(low, high, df), df) if finite else float("nan")
    if unmet:  # the failed precondition is the reason, with or without an interval
        return Decision("inconclusive", unmet, mde)
    if not finite:
        return Decision("inconclusive", "no interval (too few units or no estimate)", mde)
    d = claim.delta
    inside = -d < low and high < d
    if claim.direction == "null":
        if inside:
            return Decision("reproduced", f"interval inside ±{d:g}", mde)
        if low > 0 or high < 0:
            return Decision("not reproduced", f"interval excludes 0 and leaves ±{d:g}", mde)
        return Decision("inconclusive", f"interval holds 0 but leaves ±{d:g}", mde)
    a, b = sorted((claim.sign * low, claim.sign * high))  # the interval, turned so that the prediction is > 0
    if inside:  # before the sign: an effect that surely exists but surely is below delta does not matter
        return Decision("not reproduced", f"interval inside ±{d:g}: no effect that matters"
                        + (" (it excludes 0, but by less than that)" if a > 0 else ""), mde)
    if a > 0:
        if claim.size and b < claim.sign * claim.paper:
            return Decision("not reproduced", f"an effect, but the interval lies short of the paper's {claim.paper:g}",
                            mde)
        return Decision("reproduced", "interval excludes 0 in the predicted direction"
                        + (f" and reaches the paper's {claim.paper:g}" if claim.size else ""), mde)
    if b < 0:
        return Decision("not reproduced", "interval excludes 0 on the other side", mde)
    return Decision("inconclusive", f"interval holds 0 and leaves ±{d:g}; detectable at 80%: {mde:.3g}", mde)


# ---------------------------------------------------------------------------------------------------------
# intervals over the unit of replication


def unit_mean(values, units=None) -> tuple[float, float, float, int]:
    """(mean, low, high, df): the mean over units of each unit's mean value, with its 95% t interval (df = units -
    1). ``units`` labels each value's unit; without it every value is its own unit. Exact for normal unit means,
    and right at the small unit counts the book has (3-5 seeds), where a bootstrap over units is not."""
    values = np.asarray(values, dtype=float)
    if units is not None:
        units = np.asarray(units)
        if units.shape != values.shape:
            raise ValueError(f"units {units.shape} and values {values.shape}; allowed: one unit label per value")
        values = np.array([values[units == u].mean() for u in dict.fromkeys(units.tolist())])
    values = values[np.isfinite(values)]
    k = len(values)
    if k < 2:
        return (float(values.mean()) if k else float("nan")), float("nan"), float("nan"), max(k - 1, 0)
    mean, sd = float(values.mean()), float(values.std(ddof=1))
    half = _critical(k - 1, 0.5 + CONFIDENCE / 2) * sd / math.sqrt(k)
    return mean, mean - half, mean + half, k - 1


def row(claim: Claim, estimate: float, low: float, high: float, df: float | None = None, *,
        unmet: str | None = None, paper_value=None, verdict_v1: str | None = None, note: str = "") -> dict:
    """A scorecard row for ``claim``: the numbers, the verdict ``decide`` gives, its reason and the MDE.
    ``verdict_v1`` is the verdict of the rule the book used before this framework (kept beside the new one:
    the rules were revised after their numbers were seen)."""
    decision = decide(claim, low, high, df, unmet)
    return dict(claim_id=claim.id, claim=claim.text + (f" ({note})" if note else ""), kind=claim.kind,
                direction=claim.direction, delta=claim.delta, unit=claim.unit,
                paper_value=claim.paper if paper_value is None else paper_value, our_value=estimate, ci_low=low,
                ci_high=high, verdict=decision.verdict, reason=decision.reason, mde=decision.mde,
                verdict_v1=verdict_v1 if verdict_v1 is not None else "")


def headline(row: dict, finding: str, neutral: str) -> str:
    """A figure's title from its claim's ``row``: ``finding`` (the claim stated as found) only when the verdict is
    *reproduced*, else ``neutral`` (what the figure shows) with the verdict. Never chosen by an estimate's sign:
    a title must not claim what the interval does not."""
    return finding if row["verdict"] == "reproduced" else f"{neutral} ({row['verdict']})"

