import math

import pytest

from spl_opt.evaluators.stats import difference_ci, mean_ci, paired_lead, wilson_interval


def test_wilson_interval_known_values() -> None:
    low, high = wilson_interval(8, 10)
    assert low == pytest.approx(0.4902, abs=1e-4)
    assert high == pytest.approx(0.9433, abs=1e-4)


def test_wilson_interval_edges() -> None:
    assert wilson_interval(0, 0) == (0.0, 0.0)
    low, high = wilson_interval(0, 20)
    assert low == 0.0 and 0.0 < high < 0.2
    low, high = wilson_interval(20, 20)
    assert 0.8 < low < 1.0 and high == 1.0
    with pytest.raises(ValueError):
        wilson_interval(1, -1)


def test_mean_ci_binary_uses_wilson() -> None:
    scores = [1.0] * 8 + [0.0] * 2
    mean, low, high = mean_ci(scores)
    assert mean == pytest.approx(0.8)
    assert (low, high) == wilson_interval(8, 10)


def test_mean_ci_continuous_uses_normal_approximation() -> None:
    scores = [0.5, 0.7, 0.9, 0.3]
    mean, low, high = mean_ci(scores)
    sd = math.sqrt(sum((s - 0.6) ** 2 for s in scores) / 3)
    assert mean == pytest.approx(0.6)
    assert low == pytest.approx(0.6 - 1.96 * sd / 2)
    assert high == pytest.approx(0.6 + 1.96 * sd / 2)


def test_mean_ci_empty_and_single() -> None:
    assert mean_ci([]) == (0.0, 0.0, 0.0)
    assert mean_ci([0.4]) == (0.4, 0.4, 0.4)


def test_paired_lead_with_bootstrap_interval():
    lead, low, high = paired_lead([([1, 1, 0, 1] * 10, [0, 1, 0, 0] * 10)])
    assert lead == 0.5 and 0.2 < low < 0.5 < high <= 0.8
    assert paired_lead([([1, 0], [1, 0])]) == (0.0, 0.0, 0.0)
    with pytest.raises(ValueError):
        paired_lead([([1, 0], [1])])


def test_difference_ci_is_a_plain_interval_for_gains_of_any_sign():
    assert difference_ci([]) == (0.0, 0.0, 0.0)
    assert difference_ci([0.25]) == (0.25, 0.25, 0.25)
    mean, low, high = difference_ci([0.0, 0.0, 1.0, 1.0])  # mean_ci would read these as a proportion
    assert mean == 0.5 and high - mean == mean - low and round(high - mean, 3) == round(1.96 * 0.5774 / 2, 3)
    mean, low, high = difference_ci([-0.5, -0.25, 0.0])
    assert mean == -0.25 and low < -0.5 and high > 0.0  # not clamped to [0, 1]
