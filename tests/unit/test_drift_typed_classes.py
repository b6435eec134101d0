"""The typed class test: predicted classes against the reference's counts, two samples."""

from __future__ import annotations

import math

import numpy as np
import pytest

from mlops_pipeline.monitoring.drift import class_test
from mlops_pipeline.monitoring.typed_drift import TYPED_ALPHA, class_homogeneity_test, typed_score

# A window of 40 predictions: 30 of class 0, 10 of class 1.
WINDOW = np.array([0] * 30 + [1] * 10, dtype=np.int64)


def test_one_version_against_its_reference_counts_by_hand() -> None:
    # Shares [0.5, 0.5] on 100 rows are the counts [50, 50]: the table [[50, 50], [30, 10]]
    # has every cell 50/7 from its expectation, chi2 = 175/24 on 1 df, p = erfc(sqrt(x/2)).
    pvalue, observed, expected = class_homogeneity_test(
        2, {"v1": np.array([0.5, 0.5])}, 100, WINDOW, ["v1"] * 40
    )
    assert pvalue == pytest.approx(math.erfc(math.sqrt(175 / 48)))
    assert pvalue == pytest.approx(0.00693, abs=1e-5)
    assert (observed, expected) == ([0.75, 0.25], [0.5, 0.5])


def test_the_reference_noise_widens_the_test() -> None:
    # Against fixed shares the same window is chi2 = (10^2 + 10^2) / 20 = 10: p = erfc(sqrt(5)),
    # four times smaller; with a far larger reference the two tests meet.
    fixed = class_test(2, {"v1": np.array([0.5, 0.5])}, WINDOW, ["v1"] * 40)[0]
    assert fixed == pytest.approx(math.erfc(math.sqrt(5)))
    assert fixed == pytest.approx(0.00157, abs=1e-5)
    large = class_homogeneity_test(2, {"v1": np.array([0.5, 0.5])}, 10**7, WINDOW, ["v1"] * 40)
    assert large[0] == pytest.approx(fixed, rel=1e-3)


def test_versions_mix_by_the_rows_they_answered() -> None:
    # 20 rows from v1 (shares 0.8/0.2) and 20 from v2 (0.2/0.8): expected 20*0.8 + 20*0.2 = 20
    # of each, the shares 0.5/0.5 of the first test, so the same table and p-value.
    shares = {"v1": np.array([0.8, 0.2]), "v2": np.array([0.2, 0.8])}
    pvalue, _, expected = class_homogeneity_test(2, shares, 100, WINDOW, ["v1", "v2"] * 20)
    assert expected == pytest.approx([0.5, 0.5])
    assert pvalue == pytest.approx(math.erfc(math.sqrt(175 / 48)))
    # A version without shares (registered later) predicts like their mean: 0.5/0.5 again.
    assert class_homogeneity_test(2, shares, 100, WINDOW, ["v9"] * 40)[0] == pytest.approx(pvalue)


def test_a_window_like_the_reference_is_quiet() -> None:
    pvalue, _, _ = class_homogeneity_test(
        3, {"v1": np.array([0.25, 0.25, 0.5])}, 80, np.array([0, 1, 2, 2]), ["v1"] * 4
    )
    assert pvalue == pytest.approx(1.0)


def test_the_typed_family_is_judged_at_one_percent() -> None:
    # drift.py's score is 0.4 at p = 10^-1.6 (2.5%); the typed score multiplies the adjusted
    # p-value by 2.5% / 1% first, so 0.4 is reached at 1%, and p = 1 still scores 0.
    assert TYPED_ALPHA == 0.01
    assert typed_score(0.01) == pytest.approx(0.4)
    assert typed_score(0.011) < 0.4 < typed_score(0.009)
    assert typed_score(1.0) == 0.0
    assert typed_score(1e-6) == 1.0
