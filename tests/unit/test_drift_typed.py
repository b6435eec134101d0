"""Typed drift: each test's number worked out by hand, then the report over a small schema."""

from __future__ import annotations

import math

import numpy as np
import pytest

from mlops_pipeline.monitoring.drift import score_from_pvalue
from mlops_pipeline.monitoring.typed_drift import (
    FAMILY_ALPHA,
    chi_square_test,
    missing_test,
    typed_drift_report,
)
from mlops_pipeline.monitoring.typed_reference import TypedReference, TypedWindow
from mlops_pipeline.schema.model import Column, FeatureSchema, Task

SCHEMA = FeatureSchema(
    (
        Column("island", "string", True, ("Biscoe", "Dream")),
        Column("mass", "double", True),
        Column("year", "integer"),
    ),
    Task(classes=("a", "b"), target="species"),
)
N = 40  # training rows: island Biscoe/Dream alternate, one in ten missing; mass 1..40


def stats() -> dict[str, object]:
    island = [None if i % 10 == 9 else ("Biscoe" if i % 2 else "Dream") for i in range(N)]
    return {
        "schema": SCHEMA.to_json(),
        "n_rows": N,
        "predicted_class_shares": {"v1": [0.5, 0.5]},
        "typed_sample": {
            "island": island,
            "mass": [float(i + 1) for i in range(N)],
            "year": [2007 + i % 3 for i in range(N)],
        },
    }


def window(columns: dict[str, list[object]], n: int = N) -> TypedWindow:
    return TypedWindow(columns, np.arange(n, dtype=np.int64) % 2, ["v1"] * n)


def test_chi_square_of_two_samples_by_hand() -> None:
    # Table [[50, 50], [30, 10]]: expected 100*80/140, 100*60/140, 40*80/140, 40*60/140; every
    # cell is 50/7 away from its expectation, so chi2 = (50/7)^2 * sum(1/e) = 175/24 on 1 df,
    # whose upper tail is erfc(sqrt(x/2)).
    statistic, pvalue = chi_square_test({"A": 50, "B": 50}, {"A": 30, "B": 10})
    assert statistic == pytest.approx(175 / 24)
    assert pvalue == pytest.approx(math.erfc(math.sqrt(175 / 48)))
    assert pvalue == pytest.approx(0.00693, abs=1e-5)


def test_chi_square_needs_two_categories_and_two_samples() -> None:
    assert chi_square_test({"A": 5}, {"A": 7}) == (0.0, 1.0)
    assert chi_square_test({"A": 5, "B": 5}, {}) == (0.0, 1.0)
    # A category neither sample holds is dropped, not a division by zero.
    assert chi_square_test({"A": 5, "B": 5, "C": 0}, {"A": 5, "B": 5})[1] == pytest.approx(1.0)


def test_a_column_arriving_empty_by_hand() -> None:
    # Training 0 of 10 missing, window 5 of 5: of the C(15, 5) = 3003 ways to place the 5
    # missing rows, only one puts all in the window; the other tail (0 in the window) is likelier.
    statistic, pvalue = missing_test((0, 10), 5, 5)
    assert statistic == 1.0
    assert pvalue == pytest.approx(1 / 3003)
    assert missing_test((1, 10), 1, 10)[1] == pytest.approx(1.0)


def test_reference_counts_from_the_typed_sample() -> None:
    reference = TypedReference.from_training_stats(stats())
    assert reference.counts["island"] == {"Dream": 20, "Biscoe": 16}  # rows 9, 19.. are odd
    assert reference.missing == {"island": (4, 40), "mass": (0, 40)}
    assert (reference.low["mass"], reference.high["mass"]) == (1 - 19.5, 40 + 19.5)
    assert reference.feature_names == ("island", "mass", "year")
    with pytest.raises(ValueError, match="no typed reference sample"):
        TypedReference.from_training_stats({**stats(), "typed_sample": None})


def test_drift_free_window_reports_every_column_by_type() -> None:
    reference = TypedReference.from_training_stats(stats())
    sample = stats()["typed_sample"]
    assert isinstance(sample, dict)
    report = typed_drift_report(reference, window(sample), 0.4, 30, 5.0)
    assert (report.status, report.drift, report.features) == ("ok", False, None)
    # island: chi-square, unseen, missing; mass: ks, scale, missing; year: ks, scale; + 2.
    assert report.tests == 10
    assert report.columns is not None
    island, mass, year = (report.columns[n] for n in ("island", "mass", "year"))
    assert [t.test for t in island.tests] == ["chi_square", "unseen", "missing"]
    assert [t.test for t in mass.tests] == ["ks", "scale", "missing"]
    assert (island.type, mass.type, year.type) == ("string", "double", "integer")
    assert island.shares == island.reference_shares == {"Biscoe": 16 / 36, "Dream": 20 / 36}
    assert island.missing_share == island.reference_missing_share == 0.1
    assert not any(column.drift for column in report.columns.values())
    as_json = report.to_json()
    assert set(as_json["columns"]["island"]) >= {"type", "test", "statistic", "p_value", "drift"}


def test_an_emptied_column_and_a_share_shift_drift() -> None:
    reference = TypedReference.from_training_stats(stats())
    sample = stats()["typed_sample"]
    assert isinstance(sample, dict)
    emptied = typed_drift_report(reference, window({**sample, "mass": [None] * N}), 0.4, 30, 5.0)
    assert emptied.columns is not None
    mass = emptied.columns["mass"]
    assert (mass.test, mass.drift, mass.statistic) == ("missing", True, 1.0)
    # Fisher: all 40 missing in the window against 0 of 40 in training is 1 / C(80, 40); Holm
    # multiplies the smallest of the 10 p-values by 10.
    assert mass.p_value == pytest.approx(10 / math.comb(80, 40))
    assert emptied.drift
    assert not emptied.columns["island"].drift

    shifted = typed_drift_report(
        reference, window({**sample, "island": ["Biscoe"] * 36 + [None] * 4}), 0.4, 30, 5.0
    )
    assert shifted.columns is not None
    island = shifted.columns["island"]
    assert (island.test, island.drift) == ("chi_square", True)
    assert island.shares == {"Biscoe": 1.0}


def test_unseen_categories_beyond_the_tolerated_rate_drift() -> None:
    reference = TypedReference.from_training_stats(stats())
    sample = stats()["typed_sample"]
    assert isinstance(sample, dict)
    islands = ["Atlantis" if i < 8 else v for i, v in enumerate(sample["island"])]
    report = typed_drift_report(reference, window({**sample, "island": islands}), 0.4, 30, 5.0)
    assert report.columns is not None
    island = report.columns["island"]
    unseen = next(t for t in island.tests if t.test == "unseen")
    assert unseen.statistic == pytest.approx(8 / 36)  # of the present values
    # P(X >= 8) for X ~ Binomial(36, 0.01): 1 - sum_{k<8} C(36,k) 0.01^k 0.99^(36-k).
    by_hand = 1 - sum(math.comb(36, k) * 0.01**k * 0.99 ** (36 - k) for k in range(8))
    assert unseen.p_value == pytest.approx(by_hand)
    assert island.drift


def test_warming_up_and_the_family_level() -> None:
    reference = TypedReference.from_training_stats(stats())
    report = typed_drift_report(reference, window({}, 0), 0.4, 30, 5.0)
    assert (report.status, report.columns) == ("warming_up", None)
    assert score_from_pvalue(FAMILY_ALPHA) == pytest.approx(0.4)
