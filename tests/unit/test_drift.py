"""Drift statistics against numbers worked out by hand."""

from __future__ import annotations

import math
from dataclasses import replace

import numpy as np
import pytest

from mlops_pipeline.artifacts import ArtifactBundle
from mlops_pipeline.cli.drift_table import drift_table
from mlops_pipeline.monitoring.drift import (
    Reference,
    Window,
    bad_value_pvalue,
    class_pvalue,
    drift_report,
    holm,
    psi,
    scale_pvalue,
    score_from_pvalue,
    smoothed_shares,
)


@pytest.fixture(scope="module")
def reference(bundle: ArtifactBundle) -> Reference:
    return Reference.from_training_stats(bundle.training_stats)


def two_class_reference(shares: dict[str, list[float]]) -> Reference:
    sample = np.zeros((4, 1))
    return Reference(
        ("x",),
        ("a", "b"),
        sample,
        np.array([-1.0]),
        np.array([1.0]),
        (np.array([0.5]),),
        {version: np.array(values) for version, values in shares.items()},
    )


def test_holm_worked_example() -> None:
    # Sorted: 0.005*4 = 0.02; 0.01*3 = 0.03; 0.03*2 = 0.06; 0.04*1 = 0.04 -> running max 0.06.
    assert holm([0.01, 0.04, 0.03, 0.005]) == pytest.approx([0.03, 0.06, 0.06, 0.02])


def test_holm_caps_at_one() -> None:
    assert holm([0.5, 0.9]) == [1.0, 1.0]


@pytest.mark.parametrize(
    ("pvalue", "score"), [(1.0, 0.0), (0.1, 0.25), (0.01, 0.5), (1e-4, 1.0), (1e-9, 1.0)]
)
def test_score_is_log_scaled_between_1_and_1e_minus_4(pvalue: float, score: float) -> None:
    assert score_from_pvalue(pvalue) == pytest.approx(score)


def test_psi_worked_example() -> None:
    # Bins split at 0.5: reference shares 0.5/0.5, current 0.75/0.25.
    # PSI = 0.25 ln 1.5 + (-0.25) ln 0.5 = 0.101366 + 0.173287.
    value = psi(np.array([0.0, 0, 1, 1]), np.array([0.0, 0, 0, 1]), np.array([0.5]))
    assert value == pytest.approx(0.25 * math.log(1.5) + 0.25 * math.log(2))


def test_psi_is_zero_for_identical_shares() -> None:
    assert psi(np.array([1.0, 2, 3, 4]), np.array([4.0, 3, 2, 1]), np.array([2.5])) == 0.0


def test_bad_value_binomial_tail() -> None:
    assert bad_value_pvalue(0, 100) == 1.0
    assert bad_value_pvalue(1, 1, rate=0.01) == pytest.approx(0.01)
    assert bad_value_pvalue(2, 2, rate=0.1) == pytest.approx(0.01)
    # P(X >= 1 | n = 2, p = 0.1) = 1 - 0.9^2 = 0.19
    assert bad_value_pvalue(1, 2, rate=0.1) == pytest.approx(0.19)


def test_smoothed_shares_add_half_a_count() -> None:
    assert smoothed_shares(np.array([3.0, 1.0, 0.0]), 3) == pytest.approx(
        [3.5 / 5.5, 1.5 / 5.5, 0.5 / 5.5]
    )


def test_class_pvalue_single_version() -> None:
    # Expected 20/20, observed 30/10: chi2 = 2 * 10^2 / 20 = 10 on 1 df -> p = 0.001565.
    reference = two_class_reference({"v1": [0.5, 0.5]})
    window = Window(np.zeros((40, 1)), np.array([0] * 30 + [1] * 10), ["v1"] * 40)
    pvalue, observed, expected = class_pvalue(reference, window)
    assert pvalue == pytest.approx(0.0015654, rel=1e-4)
    assert observed == [0.75, 0.25]
    assert expected == [0.5, 0.5]


def test_class_pvalue_weights_each_rows_version() -> None:
    # 20 rows from v1 (0.5/0.5) and 20 from v2 (0.9/0.1): expected counts 28 and 12.
    reference = two_class_reference({"v1": [0.5, 0.5], "v2": [0.9, 0.1]})
    window = Window(np.zeros((40, 1)), np.array([0] * 28 + [1] * 12), ["v1"] * 20 + ["v2"] * 20)
    pvalue, _, expected = class_pvalue(reference, window)
    assert expected == pytest.approx([0.7, 0.3])
    assert pvalue == pytest.approx(1.0)


def test_scale_test_sees_spread_not_location() -> None:
    rng = np.random.default_rng(0)
    base = rng.normal(0, 1, 200)
    assert scale_pvalue(base, rng.normal(0, 1, 100) + 0.5) > 0.05
    assert scale_pvalue(base, rng.normal(0, 2, 100)) < 1e-4
    assert scale_pvalue(np.ones(5), np.ones(5)) == 1.0


def test_reference_from_training_statistics(reference: Reference, bundle: ArtifactBundle) -> None:
    stats = bundle.training_stats["features"]["petal_length"]
    width = stats["max"] - stats["min"]
    assert reference.sample.shape == (120, 4)
    assert reference.low[2] == pytest.approx(stats["min"] - 0.5 * width)
    assert reference.high[2] == pytest.approx(stats["max"] + 0.5 * width)
    assert set(reference.class_shares) == {"v1", "v2"}


def test_warming_up_below_min_window(reference: Reference) -> None:
    window = Window(reference.sample[:10], np.zeros(10, dtype=np.int64), ["v1"] * 10)
    report = drift_report(
        reference, window, threshold=0.4, min_window=30, computed_at=5.0
    ).to_json()
    assert report == {
        "window_size": 10,
        "min_window": 30,
        "threshold": 0.4,
        "computed_at": 5.0,
        "status": "warming_up",
        "score": 0.0,
        "drift": False,
    }


def window_of(reference: Reference, rows: np.ndarray, bundle: ArtifactBundle) -> Window:
    from mlops_pipeline.serving.inference import OnnxPredictor

    predictor = OnnxPredictor("v1", bundle.versions["v1"].onnx_bytes)
    return Window(rows, predictor.predict(rows)[0], ["v1"] * len(rows))


def test_training_rows_themselves_show_no_drift(
    reference: Reference, bundle: ArtifactBundle
) -> None:
    report = drift_report(
        reference, window_of(reference, reference.sample[:100], bundle), 0.4, 30, 0.0
    ).to_json()
    assert report["status"] == "ok"
    assert report["score"] < 0.4
    assert report["tests"] == 10
    assert set(report["features"]) == set(reference.feature_names)
    assert report["bad_values"] == {
        "rejected": 0,
        "out_of_range_rows": 0,
        "pvalue": 1.0,
        "adjusted_pvalue": 1.0,
    }


def test_centimetres_to_millimetres_is_drift(reference: Reference, bundle: ArtifactBundle) -> None:
    rows = reference.sample[:100].copy()
    rows[:, 2] *= 10
    report = drift_report(reference, window_of(reference, rows, bundle), 0.4, 30, 0.0).to_json()
    assert report["status"] == "drift"
    assert report["score"] == 1.0
    assert report["features"]["petal_length"]["adjusted_pvalue"] < 1e-6
    assert report["features"]["petal_length"]["out_of_range"] > 50
    assert report["features"]["sepal_width"]["adjusted_pvalue"] > 0.05


def test_rejected_inputs_alone_raise_drift(reference: Reference, bundle: ArtifactBundle) -> None:
    window = window_of(reference, reference.sample[:100], bundle)
    flooded = Window(window.features, window.predictions, window.versions, rejected=20)
    report = drift_report(reference, flooded, 0.4, 30, 0.0).to_json()
    assert report["bad_values"]["rejected"] == 20
    assert report["status"] == "drift"


def test_absurd_finite_inputs_give_a_json_safe_report(
    reference: Reference, bundle: ArtifactBundle
) -> None:
    rows = reference.sample[:100].copy()
    rows[:, 1] = 1e308
    report = drift_report(reference, window_of(reference, rows, bundle), 0.4, 30, 0.0).to_json()
    assert report["status"] == "drift"
    assert report["features"]["sepal_width"]["mean"] is None  # overflowed: not Infinity
    import json

    json.dumps(report, allow_nan=False)  # raises on NaN or Infinity anywhere


def test_the_table_shows_an_overflowed_statistic_as_not_available(
    reference: Reference, bundle: ArtifactBundle
) -> None:
    report = drift_report(
        reference, window_of(reference, reference.sample[:100], bundle), 0.4, 30, 0.0
    )
    assert report.features is not None
    first = next(iter(report.features))
    overflowed = replace(report.features[first], mean=None, std=None)
    table = drift_table(replace(report, features={**report.features, first: overflowed}))
    row = next(line for line in table.splitlines() if line.startswith(first))
    assert row.count("n/a") == 2
