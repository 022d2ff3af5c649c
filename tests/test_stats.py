import math

import numpy as np
import pytest

from sticky import stats


def test_wilson_matches_hand_computation():
    # 8 of 10, z = 1.959964: centre = (0.8 + z²/20) / (1 + z²/10); half = z/(1+z²/10) * sqrt(0.016 + z²/400)
    z = 1.959963984540054
    centre = (0.8 + z * z / 20) / (1 + z * z / 10)
    half = z / (1 + z * z / 10) * math.sqrt(0.8 * 0.2 / 10 + z * z / 400)
    low, high = stats.wilson_interval(8, 10)
    assert low == pytest.approx(centre - half) and high == pytest.approx(centre + half)
    assert low == pytest.approx(0.4902, abs=1e-4) and high == pytest.approx(0.9433, abs=1e-4)


def test_newcombe_difference_matches_the_published_example():
    # Newcombe (1998), Statistics in Medicine 17:873, table II, example (a): 56/70 - 48/80 = 0.2000,
    # method 10 interval 0.0524 to 0.3339
    diff, low, high = stats.newcombe_difference(56, 70, 48, 80)
    assert diff == pytest.approx(0.2) and (low, high) == pytest.approx((0.0524, 0.3339), abs=1e-4)
    # at 0 of n on both sides the interval still has width (a t interval on 0/1 values would be [0, 0])
    _, low, high = stats.newcombe_difference(0, 40, 0, 20)
    assert low < -0.1 and 0 < high < 0.1


def test_wilson_edges_and_bad_input():
    assert stats.wilson_interval(0, 20)[0] == 0.0 and stats.wilson_interval(20, 20)[1] == 1.0
    assert stats.wilson_interval(20, 20)[0] == pytest.approx(0.8389, abs=1e-4)  # 20/(20+z²)
    with pytest.raises(ValueError, match="successes"):
        stats.wilson_interval(11, 10)


def test_bootstrap_covers_mean_and_is_seeded():
    values = np.arange(100, dtype=float)
    low, high = stats.bootstrap_interval(values)
    assert low < 49.5 < high and high - low < 20
    assert stats.bootstrap_interval(values) == (low, high)


def test_log10_span():
    assert stats.log10_span([1e-5, 1e-3, 0.1]) == pytest.approx(4.0)
    with pytest.raises(ValueError):
        stats.log10_span([0.0, 1.0])
