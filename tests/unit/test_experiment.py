"""A/B verdict statistics against numbers worked out by hand."""

from __future__ import annotations

import numpy as np
import pytest

from mlops_pipeline.experiment.statistics import (
    decide,
    msprt_pvalues,
    newcombe_difference,
    sample_ratio_pvalue,
    wilson_interval,
)


def test_wilson_interval_eight_of_ten() -> None:
    # p = 0.8, z^2 = 3.8415: centre 0.99207/1.38415 = 0.71672, half 0.31361/1.38415 = 0.22657.
    low, high = wilson_interval(8, 10)
    assert (low, high) == pytest.approx((0.49016, 0.94332), abs=1e-5)


def test_wilson_interval_edges() -> None:
    assert wilson_interval(0, 0) == (0.0, 1.0)
    low, high = wilson_interval(10, 10)
    assert high == pytest.approx(1.0)
    assert low == pytest.approx(0.72247, abs=1e-5)  # 10/(10 + 3.8415)


def test_newcombe_worked_example() -> None:
    # Newcombe (1998), example (a): 56/70 vs 48/80, difference 0.2, 95% CI 0.0524 to 0.3339.
    difference, low, high = newcombe_difference(48, 80, 56, 70)
    assert difference == pytest.approx(0.2)
    assert (low, high) == pytest.approx((0.0524, 0.3339), abs=1e-4)


def test_msprt_stays_one_until_both_arms_have_enough_labels() -> None:
    arm = np.array([False, True] * 50)
    correct = np.ones(100, dtype=bool)
    assert np.all(msprt_pvalues(arm, correct, min_per_arm=51) == 1.0)


def test_msprt_worked_value() -> None:
    # 100 labels per arm, 80 vs 90 correct, tau = 0.1; smoothed shares 81/102 and 91/102:
    # V = 0.794118*0.205882/100 + 0.892157*0.107843/100 = 0.0025971
    # log L = 0.5 ln(V/(V+0.01)) + 0.01*0.1^2 / (2 V (V+0.01)) = -0.789531 + 1.528268
    # p = exp(-0.738737) = 0.4777. Both arms first reach 100 labels on the last one.
    arm = np.array([False, True] * 100)
    correct = np.ones(200, dtype=bool)
    correct[0:40:2] = False  # 20 champion misses
    correct[1:21:2] = False  # 10 challenger misses
    pvalues = msprt_pvalues(arm, correct, tau=0.1, min_per_arm=100)
    assert pvalues[:-1].tolist() == [1.0] * 199
    assert pvalues[-1] == pytest.approx(0.4777, abs=2e-4)


def test_msprt_pvalue_never_increases() -> None:
    rng = np.random.default_rng(0)
    arm = rng.random(3000) < 0.5
    correct = np.where(arm, rng.random(3000) < 0.9, rng.random(3000) < 0.8)
    pvalues = msprt_pvalues(arm, correct, min_per_arm=10)
    assert np.all(np.diff(pvalues) <= 0)
    assert pvalues[-1] < 1e-6


def test_sample_ratio_chi_square() -> None:
    assert sample_ratio_pvalue({"v1": 50, "v2": 50}, {"v1": 0.5, "v2": 0.5}) == pytest.approx(1.0)
    # chi2 = 2 * 10^2 / 50 = 4 on 1 df -> p = 0.0455
    assert sample_ratio_pvalue({"v1": 60, "v2": 40}, {"v1": 0.5, "v2": 0.5}) == pytest.approx(
        0.0455, abs=1e-4
    )
    assert sample_ratio_pvalue({"v1": 5, "v2": 1}, {"v1": 1.0, "v2": 0.0}) == 0.0
    assert sample_ratio_pvalue({}, {"v1": 0.5, "v2": 0.5}) == 1.0


@pytest.mark.parametrize(
    ("pvalue", "difference", "labelled", "label"),
    [
        (0.01, 0.08, {"v1": 500, "v2": 500}, "promote v2"),
        (0.01, -0.08, {"v1": 500, "v2": 500}, "keep v1"),
        (0.30, 0.02, {"v1": 500, "v2": 500}, "continue"),
        (1.00, 0.00, {"v1": 20, "v2": 500}, "continue"),
        (0.30, 0.00, {"v1": 10_000, "v2": 10_000}, "keep v1"),
    ],
)
def test_decision(pvalue: float, difference: float, labelled: dict[str, int], label: str) -> None:
    decision = decide("v1", "v2", pvalue, difference, labelled)
    assert decision.label == label
    assert decision.significant == (pvalue <= 0.05)
    assert decision.reason
