from __future__ import annotations

import random
import time

import numpy as np
from prometheus_client import CollectorRegistry

from mlops_pipeline.monitoring.drift_monitor import DriftMonitor, Refresher
from mlops_pipeline.serving.service import PredictionService
from mlops_pipeline.serving.validation import PredictRequest
from tests.support.helpers import sample


def send(service: PredictionService, rows: np.ndarray, prefix: str) -> None:
    for index, row in enumerate(rows):
        service.predict(PredictRequest(row[None, :], None, False), f"{prefix}-{index}")


def test_warming_up_then_ok_then_drift(
    service: PredictionService, monitor: DriftMonitor, registry: CollectorRegistry
) -> None:
    assert monitor.refresh().status == "warming_up"
    assert sample(registry, "mlops_drift_window_size") == 0

    training = monitor.reference.sample
    send(service, training[:100], "clean")
    report = monitor.refresh().to_json()
    assert (report["status"], report["window_size"]) == ("ok", 100)
    assert sample(registry, "mlops_drift_detected") == 0
    assert sample(registry, "mlops_drift_score") == report["score"]
    assert (
        sample(registry, "mlops_feature_drift_pvalue", feature="petal_length")
        == (report["features"]["petal_length"]["adjusted_pvalue"])
    )

    drifted = training[:100].copy()
    drifted[:, 0] *= 10  # sepal length arrives in millimetres
    send(service, drifted, "mm")
    report = monitor.refresh().to_json()
    assert report["status"] == "drift"
    assert sample(registry, "mlops_drift_detected") == 1
    assert sample(registry, "mlops_drift_score") == 1.0
    assert sample(registry, "mlops_feature_psi", feature="sepal_length") > 1


def test_window_holds_only_the_newest_rows(
    service: PredictionService, monitor: DriftMonitor
) -> None:
    rows = monitor.reference.sample
    send(service, rows[:120], "a")
    report = monitor.refresh().to_json()
    assert report["window_size"] == 100
    assert report["features"]["sepal_length"]["mean"] == rows[20:120, 0].mean()


def test_rejections_during_the_window_count(
    service: PredictionService, monitor: DriftMonitor
) -> None:
    send(service, monitor.reference.sample[:60], "a")
    for _ in range(15):
        service.record_rejection("invalid_feature_value")
    assert monitor.refresh().to_json()["bad_values"]["rejected"] == 15


def test_latest_reuses_a_fresh_report(monitor: DriftMonitor) -> None:
    first = monitor.latest(max_age_seconds=60)
    assert monitor.latest(max_age_seconds=60) is first
    assert monitor.latest(max_age_seconds=-1) is not first


def test_refresher_runs_tasks_on_their_intervals_and_stops(
    service: PredictionService, monitor: DriftMonitor, registry: CollectorRegistry
) -> None:
    send(service, monitor.reference.sample[random.Random(0).sample(range(120), 40)], "b")
    calls: list[float] = []
    refresher = Refresher([(0.05, monitor.refresh), (0.02, lambda: calls.append(time.monotonic()))])
    refresher.start()
    try:
        deadline = time.monotonic() + 5
        while sample(registry, "mlops_drift_window_size") != 40 or len(calls) < 5:
            assert time.monotonic() < deadline, "refresher never ran its tasks"
            time.sleep(0.02)
    finally:
        refresher.stop()
    assert not refresher.running


def test_refresher_survives_a_failing_task() -> None:
    calls: list[int] = []

    def failing() -> None:
        calls.append(1)
        raise RuntimeError("database is locked")

    refresher = Refresher([(0.01, failing)])
    refresher.start()
    try:
        deadline = time.monotonic() + 5
        while len(calls) < 3:
            assert time.monotonic() < deadline
            time.sleep(0.01)
    finally:
        refresher.stop()
