"""Retention: what is deleted, what never is, in chunks; worked out by hand."""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import fields

import numpy as np
import pytest
from prometheus_client import CollectorRegistry

from mlops_pipeline.monitoring.metrics import PRUNE_REASONS, Metrics
from mlops_pipeline.monitoring.retention import (
    DAY,
    Candidate,
    LogPruner,
    Policy,
    PruneResult,
    choose,
)
from mlops_pipeline.storage import Storage
from mlops_pipeline.storage.records import LoggedPrediction, PredictionBatch
from tests.support.helpers import sample

NOW = 100 * DAY


def policy(**changes: int | float) -> Policy:
    values: dict[str, int | float] = {
        "max_age_seconds": 30 * DAY,
        "max_rows": 1_000,
        "protected_newest": 2,
        "chunk": 3,
    }
    values.update(changes)
    return Policy(**values)  # type: ignore[arg-type]


def test_choose_deletes_expired_rows_first_then_the_oldest_unlabelled_beyond_the_bound() -> None:
    rows = [
        Candidate(1, NOW - 40 * DAY, labelled=True),  # expired: goes even though labelled
        Candidate(2, NOW - 10 * DAY, labelled=True),  # inside retention and labelled: kept
        Candidate(3, NOW - 9 * DAY, labelled=False),
        Candidate(4, NOW - 8 * DAY, labelled=False),
        Candidate(5, NOW - 1 * DAY, labelled=False),  # protected (newest two: ids 5 and 6)
    ]
    assert choose(rows, policy(), NOW, excess=0, protected_from=5) == ([1], [])
    # Three over the bound: the expired row counts, then 3 and 4 (2 is labelled).
    assert choose(rows, policy(), NOW, excess=3, protected_from=5) == ([1], [3, 4])
    assert choose(rows, policy(), NOW, excess=2, protected_from=5) == ([1], [3])
    # Far over the bound: the protected newest rows still stay.
    assert choose(rows, policy(), NOW, excess=99, protected_from=5) == ([1], [3, 4])


def test_choose_never_touches_the_protected_window_even_when_expired() -> None:
    rows = [Candidate(7, NOW - 90 * DAY, labelled=False), Candidate(8, NOW - 80 * DAY, False)]
    assert choose(rows, policy(), NOW, excess=5, protected_from=7) == ([], [])


def log_request(storage: Storage, request_id: str, age_days: float) -> None:
    storage.predictions.append(
        PredictionBatch(
            request_id,
            NOW - age_days * DAY,
            "v1",
            None,
            np.zeros((1, 4)),
            np.zeros(1, dtype=np.int64),
            np.ones((1, 3)) / 3,
            0.1,
        )
    )


def remaining(storage: Storage) -> list[str]:
    return sorted(row["request_id"] for row in storage.predictions.recent(1000))


def test_pruning_by_age_and_by_rows_on_a_real_database(storage: Storage) -> None:
    for index, age in enumerate([50, 45, 20, 15, 10, 5, 1, 0.5]):
        log_request(storage, f"r{index}", age)
    storage.labels.save_label("r3", 0, LoggedPrediction("v1", 0), 0, now=NOW - 15 * DAY)
    storage.labels.save_label("r0", 0, LoggedPrediction("v1", 0), 0, now=NOW - 50 * DAY)
    storage.predictions.record_rejection("invalid_feature_value", NOW - 40 * DAY)
    storage.predictions.record_rejection("invalid_feature_value", NOW - 1 * DAY)
    storage.shadow.record_shadow("r0", "v1", "v2", 1, 1, now=NOW - 40 * DAY)
    registry = CollectorRegistry()
    pruner = LogPruner(
        storage, policy(max_rows=4), Metrics(registry), alert_bytes=123, clock=lambda: NOW
    )
    result = pruner.prune()
    # r0, r1 expired; 6 left for a bound of 4: r2 goes (unlabelled), r3 is labelled, r4 goes.
    assert (result.by_age, result.by_rows) == (2, 2)
    assert remaining(storage) == ["r3", "r5", "r6", "r7"]
    assert (result.labels, result.rejections, result.shadow) == (1, 1, 1)
    assert storage.labels.label_counts() == [("v1", 0, 0, 1)]  # r3's label stays
    assert storage.predictions.count_rejections(since=0) == 1
    assert result.rows_left == 4
    assert sample(registry, "mlops_prediction_log_rows") == 4
    assert sample(registry, "mlops_prediction_log_bytes") == result.bytes_in_use > 0
    assert sample(registry, "mlops_prediction_log_alert_bytes") == 123
    assert sample(registry, "mlops_prediction_log_pruned_total", reason="by_age") == 2
    assert pruner.prune().by_age == 0  # idempotent


def test_pruning_goes_in_chunks_and_one_run_is_bounded(storage: Storage) -> None:
    for index in range(10):
        log_request(storage, f"old{index:02d}", 40)
    pruner = LogPruner(storage, policy(chunk=3), clock=lambda: NOW, max_chunks=2)
    assert pruner.prune().by_age == 6  # two chunks of three, the rest next time
    assert pruner.prune().by_age == 2  # the two newest are the protected window
    assert remaining(storage) == ["old08", "old09"]


def test_a_log_smaller_than_the_drift_window_is_left_alone(storage: Storage) -> None:
    log_request(storage, "only", 365)
    pruner = LogPruner(storage, policy(protected_newest=100), clock=lambda: NOW)
    assert pruner.prune().by_age == 0
    assert remaining(storage) == ["only"]


def test_labelled_requests_at_the_oldest_edge_do_not_stall_the_row_bound(
    storage: Storage,
) -> None:
    # Five labelled requests inside retention fill more than a chunk (3) at the oldest edge.
    for index, age in enumerate([20, 19, 18, 17, 16]):
        log_request(storage, f"l{index}", age)
        storage.labels.save_label(f"l{index}", 0, LoggedPrediction("v1", 0), 0, now=NOW - age * DAY)
    for index, age in enumerate([10, 9, 8, 7]):
        log_request(storage, f"u{index}", age)
    log_request(storage, "n0", 1)
    log_request(storage, "n1", 0.5)
    pruner = LogPruner(storage, policy(max_rows=8, chunk=3), clock=lambda: NOW)
    result = pruner.prune()
    # 11 requests for a bound of 8: the three oldest unlabelled (u0, u1, u2) go.
    assert (result.by_age, result.by_rows, result.rows_left) == (0, 3, 8)
    assert remaining(storage) == ["l0", "l1", "l2", "l3", "l4", "n0", "n1", "u3"]
    assert pruner.prune().by_rows == 0


def test_the_protected_window_stays_beyond_the_row_bound(storage: Storage) -> None:
    for index in range(4):
        log_request(storage, f"r{index}", 40 - index)
    # All expired, bound of 1: everything but the two newest goes, and those stay.
    result = LogPruner(storage, policy(max_rows=1), clock=lambda: NOW).prune()
    assert (result.by_age, result.by_rows, result.rows_left) == (2, 0, 2)
    assert remaining(storage) == ["r2", "r3"]


def test_every_delete_removes_at_most_a_chunk(
    storage: Storage, monkeypatch: pytest.MonkeyPatch
) -> None:
    for index in range(8):
        log_request(storage, f"old{index}", 40)
        storage.labels.save_label(
            f"old{index}", 0, LoggedPrediction("v1", 0), 0, now=NOW - 40 * DAY
        )
        storage.shadow.record_shadow(f"old{index}", "v1", "v2", 1, 1, now=NOW - 40 * DAY)
    for _ in range(7):
        storage.predictions.record_rejection("invalid_feature_value", NOW - 40 * DAY)
    deletes: list[int] = []
    execute = storage.database.execute

    def recording(sql: str, params: Sequence[object] = ()) -> int:
        count = execute(sql, params)
        if sql.startswith("DELETE"):
            deletes.append(count)
        return count

    monkeypatch.setattr(storage.database, "execute", recording)
    result = LogPruner(storage, policy(chunk=3), clock=lambda: NOW).prune()
    # 6 expired requests (two protected), 8 labels, 7 rejections, 8 shadow results.
    assert (result.by_age, result.labels, result.rejections, result.shadow) == (6, 8, 7, 8)
    assert sum(deletes) == 29
    assert max(deletes) == 3  # one statement, one short transaction, never more than a chunk


def test_labels_rejections_and_shadow_results_obey_the_run_bound(storage: Storage) -> None:
    for _ in range(7):
        storage.predictions.record_rejection("invalid_feature_value", NOW - 40 * DAY)
    pruner = LogPruner(storage, policy(chunk=3), clock=lambda: NOW, max_chunks=2)
    assert pruner.prune().rejections == 6
    assert pruner.prune().rejections == 1
    assert storage.predictions.count_rejections(since=0) == 0


def test_log_size_gauges_and_a_standby_that_clears_them() -> None:
    registry = CollectorRegistry()
    metrics = Metrics(registry)
    metrics.set_log_size(rows=5, bytes_in_use=4096, alert_bytes=1024)
    metrics.count_pruned("by_rows", 2)
    metrics.count_pruned("labels", 0)
    assert sample(registry, "mlops_prediction_log_rows") == 5
    assert sample(registry, "mlops_prediction_log_bytes") == 4096
    assert sample(registry, "mlops_prediction_log_pruned_total", reason="by_rows") == 2
    with pytest.raises(ValueError, match="unknown prune reason"):
        metrics.count_pruned("made_up", 1)
    metrics.clear_monitor_gauges()  # a standby: the alert takes the max over monitors
    assert sample(registry, "mlops_prediction_log_bytes") == 0
    assert sample(registry, "mlops_prediction_log_rows") == 0
    assert sample(registry, "mlops_prediction_log_alert_bytes") == 1024


def test_every_prune_reason_is_a_field_of_the_result() -> None:
    assert set(PRUNE_REASONS) <= {field.name for field in fields(PruneResult)}
