"""The inference framework: its formulas against hand computations, and its verdict rule calibrated by simulation
(a null is called reproduced in at most 5% of 1,000 draws; an effect is found as often as the stated power)."""

import math

import numpy as np
import pytest
from scipy import stats as sps

from sticky import claims, stats

POSITIVE = claims.Claim("c", "an effect", "paper finding", "positive", 0.2, "half the paper's", "seed")
NEGATIVE = claims.Claim("n", "a negative effect", "paper finding", "negative", 0.2, "half the paper's", "keyword")
NULL = claims.Claim("z", "no effect", "paper finding", "null", 0.2, "a tenth of the scale", "cell")
SIZE = claims.Claim("s", "closes 88%", "paper finding", "positive", 0.44, "half the paper's", "task", paper=0.88,
                    size=True)
DRAWS = 1000


# ---------------------------------------------------------------------------------------------------------
# declaration and decision, by hand


def test_claim_refuses_bad_declarations():
    with pytest.raises(ValueError, match="kind="):
        claims.Claim("x", "t", "finding", "positive", 0.1, "r", "seed")
    with pytest.raises(ValueError, match="direction="):
        claims.Claim("x", "t", "paper finding", "up", 0.1, "r", "seed")
    with pytest.raises(ValueError, match="delta="):
        claims.Claim("x", "t", "paper finding", "positive", 0.0, "r", "seed")
    with pytest.raises(ValueError, match="size=True"):
        claims.Claim("x", "t", "paper finding", "positive", 0.1, "r", "seed", paper="strong", size=True)


@pytest.mark.parametrize("claim, low, high, verdict", [
    (POSITIVE, 0.05, 0.9, "reproduced"),          # excludes 0 above
    (POSITIVE, -0.1, 0.15, "not reproduced"),     # inside ±0.2
    (POSITIVE, 0.05, 0.15, "not reproduced"),     # excludes 0 but inside ±0.2: too small to matter
    (POSITIVE, 0.05, 0.25, "reproduced"),         # excludes 0 and reaches 0.2
    (POSITIVE, -0.9, -0.05, "not reproduced"),    # the other side
    (POSITIVE, -0.3, 0.6, "inconclusive"),        # holds 0, leaves the band
    (NEGATIVE, -0.9, -0.05, "reproduced"),
    (NEGATIVE, 0.05, 0.9, "not reproduced"),
    (NULL, -0.15, 0.19, "reproduced"),            # inside the equivalence band
    (NULL, 0.05, 0.6, "not reproduced"),          # an effect that leaves the band
    (NULL, -0.3, 0.1, "inconclusive"),            # holds 0, too wide to say
    (SIZE, 0.5, 1.0, "reproduced"),               # reaches 0.88
    (SIZE, 0.3, 0.7, "not reproduced"),           # an effect, short of the paper's
    (POSITIVE, float("nan"), 1.0, "inconclusive"),
])
def test_decide_by_hand(claim, low, high, verdict):
    assert claims.decide(claim, low, high).verdict == verdict


def test_a_failed_precondition_is_the_reason_with_or_without_an_interval():
    with_interval = claims.decide(POSITIVE, 0.05, 0.9, unmet="no positive control")
    assert (with_interval.verdict, with_interval.reason) == ("inconclusive", "no positive control")
    assert with_interval.mde > 0  # the interval still tells what the run could have detected
    without = claims.decide(POSITIVE, float("nan"), float("nan"), unmet="the poison did not take")
    assert (without.verdict, without.reason) == ("inconclusive", "the poison did not take")
    assert np.isnan(without.mde)


def test_unit_mean_is_the_t_interval_of_unit_means():
    values = [1.0, 3.0, 2.0, 4.0, 10.0, 12.0]
    units = ["a", "a", "b", "b", "c", "c"]  # unit means 2, 3, 11
    mean, low, high, df = claims.unit_mean(values, units)
    sd = math.sqrt(((2 - 16 / 3) ** 2 + (3 - 16 / 3) ** 2 + (11 - 16 / 3) ** 2) / 2)
    half = 4.302652729911275 * sd / math.sqrt(3)  # t(0.975, 2)
    assert (mean, df) == (pytest.approx(16 / 3), 2)
    assert (low, high) == (pytest.approx(16 / 3 - half), pytest.approx(16 / 3 + half))


def test_power_and_mde_by_hand():
    # normal: power at effect e is Phi(e / se - 1.96); the 80% MDE is (1.96 + 0.8416) se
    assert claims.power(2.0, 1.0) == pytest.approx(sps.norm.sf(1.959964 - 2.0))
    assert claims.minimum_detectable_effect(0.5) == pytest.approx((1.959964 + 0.841621) * 0.5, rel=1e-5)
    assert claims.standard_error(-1.959964, 1.959964) == pytest.approx(1.0)
    # t: the MDE is where the noncentral t crosses 80%
    mde = claims.minimum_detectable_effect(1.0, df=4)
    assert sps.nct.sf(sps.t.ppf(0.975, 4), 4, mde) == pytest.approx(0.8, abs=1e-6)


def test_cluster_bootstrap_resamples_whole_units():
    # two units, each constant: every resample's mean is 0, 0.5 or 1 of the unit values, never a mixture of rows
    x = np.array([0.0, 0.0, 0.0, 1.0, 1.0, 1.0, 2.0, 2.0, 2.0, 3.0, 3.0, 3.0, 4.0, 4.0, 4.0])
    units = np.repeat(list("abcde"), 3)
    seen = set()
    est, low, high = stats.cluster_bootstrap(lambda v: seen.add(len(v)) or v.mean(), x, units=units)
    assert est == pytest.approx(2.0) and seen == {15}  # 5 units of 3 rows drawn every time
    assert 0 < low < 2 < high < 4
    assert np.isnan(stats.cluster_bootstrap(np.mean, x[:6], units=units[:6])[1])  # 2 units: no interval


# ---------------------------------------------------------------------------------------------------------
# calibration by simulation


def _means(rng, effect, k, sd=1.0):
    """DRAWS experiments of k unit-level values each (k seeds, say), true mean ``effect``."""
    return rng.normal(effect, sd, size=(DRAWS, k))


def _verdicts(claim, samples):
    out = []
    for v in samples:
        _, low, high, df = claims.unit_mean(v)
        out.append(claims.decide(claim, low, high, df).verdict)
    return np.array(out)


@pytest.mark.parametrize("k", [3, 5, 12])
def test_null_effect_is_called_reproduced_at_most_5_percent(k):
    rng = np.random.default_rng(k)
    share = (_verdicts(POSITIVE, _means(rng, 0.0, k)) == "reproduced").mean()
    assert share <= 0.05  # expected 2.5% (one side of a 95% interval); 1,000 draws put 5% > 4 SE away


@pytest.mark.parametrize("k", [3, 5, 12])
def test_power_at_the_stated_mde_is_80_percent(k):
    rng = np.random.default_rng(100 + k)
    se = 1.0 / math.sqrt(k)
    effect = claims.minimum_detectable_effect(se, df=k - 1)
    share = (_verdicts(POSITIVE, _means(rng, effect, k)) == "reproduced").mean()
    assert abs(share - 0.80) < 4 * math.sqrt(0.8 * 0.2 / DRAWS)


def test_null_claim_is_reproduced_at_most_5_percent_when_the_effect_sits_on_the_band():
    rng = np.random.default_rng(7)
    claim = claims.Claim("z", "no effect", "paper finding", "null", 0.5, "r", "seed")
    share = (_verdicts(claim, _means(rng, 0.5, 12)) == "reproduced").mean()
    assert share <= 0.05  # equivalence at the band's edge is a false "reproduced"
    assert (_verdicts(claim, _means(rng, 0.0, 40, sd=0.3)) == "reproduced").mean() > 0.9  # a true null, powered


def test_size_claim_below_the_paper_is_rarely_reproduced():
    rng = np.random.default_rng(11)
    share = (_verdicts(SIZE, _means(rng, 0.4, 5, sd=0.1)) == "reproduced").mean()  # true 0.4 against the paper's 0.88
    assert share <= 0.05


def test_clustered_spearman_false_positive_rate_under_a_null():
    """12 keywords x 3 texts, the keyword's prior shared by its texts and priming noisy per keyword: a bootstrap
    over texts would be overconfident; over keywords it keeps the 2.5% one-sided rate (5% bound, 300 draws)."""
    rng = np.random.default_rng(3)
    hits, draws = 0, 300
    for _ in range(draws):
        prior = np.repeat(rng.normal(size=12), 3)
        priming = np.repeat(rng.normal(size=12), 3) + 0.3 * rng.normal(size=36)  # independent of the prior
        _, low, high = stats.cluster_bootstrap(stats.spearman_rho, prior, priming, units=np.repeat(np.arange(12), 3),
                                                n_resamples=300, seed=int(rng.integers(1 << 31)))
        hits += claims.decide(NEGATIVE, low, high).verdict == "reproduced"
    assert hits / draws <= 0.05 + 2 * math.sqrt(0.05 * 0.95 / draws)
