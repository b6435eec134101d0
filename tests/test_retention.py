"""Retention: what is deleted, what never is, in chunks; worked out by hand."""

from __future__ import annotations

from collections.abc import Iterator

import numpy as np
import pytest
from prometheus_client import CollectorRegistry

from mlops_pipeline.monitoring.metrics import Metrics
from mlops_pipeline.monitoring.retention import DAY, Candidate, LogPruner, Policy, choose
from mlops_pipeline.storage import Storage, open_storage
from mlops_pipeline.storage.records import LoggedPrediction, PredictionBatch
from mlops_pipeline.storage.schema import upgrade

from helpers import sample
from postgres import unavailable_reason

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


@pytest.fixture(params=["sqlite", "postgresql"])
def storage(request: pytest.FixtureRequest, tmp_path) -> Iterator[Storage]:  # type: ignore[no-untyped-def]
    if request.param == "sqlite":
        url = f"sqlite:///{tmp_path / 'log.db'}"
    else:
        reason = unavailable_reason()
        if reason is not None:
            pytest.skip(reason)
        url = str(request.getfixturevalue("postgres_database"))
    upgrade(url)
    opened = open_storage(url)
    yield opened
    opened.close()


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
