"""Model store, rollouts and failures: one contract on SQLite and a real PostgreSQL."""

from __future__ import annotations

import pytest

from mlops_pipeline.rollout_plan import Plan
from mlops_pipeline.storage import DuplicateKey, Storage
from mlops_pipeline.storage.labels import Label
from mlops_pipeline.storage.records import LoggedPrediction
from mlops_pipeline.storage.rollouts import RolloutRunning
from tests.unit.test_storage_contract import batch


def test_models_register_once_and_retire(storage: Storage) -> None:
    models = storage.models
    models.register("v3", b"onnx-bytes", "ab" * 32, {"algorithm": "rf"}, "alice", 10.0)
    with pytest.raises(DuplicateKey):
        models.register("v3", b"other", "cd" * 32, {}, "bob", 11.0)
    models.retire("v1", "alice", 12.0)  # a trained version: a row saying it is retired
    (v3, v1) = models.catalog()
    assert (v3.version, v3.status, v3.sha256, v3.metadata) == (
        "v3",
        "active",
        "ab" * 32,
        {"algorithm": "rf"},
    )
    assert (v1.version, v1.status, v1.sha256) == ("v1", "retired", None)
    assert models.onnx("v3") == b"onnx-bytes"
    models.retire("v3", "bob", 13.0)
    assert models.onnx("v3") is None  # retired bytes are not served
    assert [m.status for m in models.catalog()] == ["retired", "retired"]


def test_one_running_rollout_and_its_audit(storage: Storage) -> None:
    rollouts = storage.rollouts
    first = rollouts.start(
        "v3", "v2", Plan("v3", "v2", steps=(0.5, 1.0)), {"v3": 0.5, "v2": 0.5},
        {"v1": 0.5, "v2": 0.5}, "started", "alice", 100.0, 0,
    )  # fmt: skip
    assert (first.state, first.step, first.weights_before) == ("running", 0, {"v1": 0.5, "v2": 0.5})
    assert storage.weights.current().weights == {"v3": 0.5, "v2": 0.5}  # type: ignore[union-attr]
    with pytest.raises(RolloutRunning):
        rollouts.start("v3", "v1", Plan("v3", "v1"), {"v3": 1.0}, {}, "again", "bob", 101.0, 0)
    assert rollouts.transition(first, "advance", "running", 1, {"v3": 1.0}, "next", 102.0)
    moved = rollouts.get(first.id)
    assert moved is not None
    assert (moved.step, moved.step_started_at) == (1, 102.0)
    assert moved.step_weights_version > first.step_weights_version
    assert rollouts.transition(
        moved, "rolled_back", "rolled_back", 1, first.weights_before, "worse", 103.0
    )
    assert not rollouts.transition(moved, "advance", "running", 2, {"v3": 1.0}, "late", 104.0)
    assert rollouts.current() is None
    assert storage.weights.current().weights == {"v1": 0.5, "v2": 0.5}  # type: ignore[union-attr]
    events = rollouts.events(first.id)
    assert [(e.event, e.state, e.step) for e in events] == [
        ("started", "running", 0),
        ("advance", "running", 1),
        ("rolled_back", "rolled_back", 1),
    ]
    # The weight audit has each change too, by the controller.
    assert [c.actor for c in storage.weights.history(10)] == [
        "rollout-controller", "rollout-controller", "alice",
    ]  # fmt: skip
    second = rollouts.start(
        "v3", "v1", Plan("v3", "v1"), {"v3": 0.1, "v1": 0.9}, {}, "again", "bob", 105.0, 0
    )
    assert [r.id for r in rollouts.history(5)] == [second.id, first.id]


def test_evidence_by_split(storage: Storage) -> None:
    log = storage.predictions
    log.append(batch("old", version="v2", weights_version=1))
    start = log.newest_id(0) or 0
    for index, (version, split) in enumerate([("v3", 2), ("v2", 2), ("v2", 2), ("v3", 3)]):
        log.append(batch(f"r{index}", version=version, weights_version=split, latency_ms=index))
    log.append(batch("pinned", version="v3", weights_version=3, assignment="pinned"))
    assert log.requests_by_epoch(start, 2) == {(2, "v3"): 1, (2, "v2"): 2, (3, "v3"): 1}
    assert [sample[0] for sample in log.epoch_latency_samples(start, "v3", 2, 10)] == [0.0]
    labels = [
        Label("r0", 0, LoggedPrediction("v3", 0), 0),
        Label("r1", 0, LoggedPrediction("v2", 0), 1),
        Label("r2", 0, LoggedPrediction("v2", 0), 0),
        Label("old", 0, LoggedPrediction("v2", 0), 0),
    ]
    storage.labels.save_labels(labels, 200.0)
    assert storage.labels.labels_by_epoch(start, 2, 150.0) == {(2, "v3"): (1, 1), (2, "v2"): (2, 1)}
    storage.failures.record("v3", 2, "routed", "inference_failed", 201.0)
    storage.failures.record("v3", 2, "pinned", "inference_failed", 201.0)  # not the rollout's
    storage.failures.record("v3", 1, "routed", "inference_failed", 202.0)
    assert storage.failures.by_epoch(2) == {(2, "v3"): 1}
    assert storage.failures.prune(201.5, 10) == 2
