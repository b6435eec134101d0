"""One contract, two backends: SQLite and a real PostgreSQL give the same answers."""

from __future__ import annotations

import multiprocessing
import sqlite3
from dataclasses import replace

import pytest

from mlops_pipeline.storage import DuplicateKey, Storage, open_storage
from mlops_pipeline.storage.records import PINNED, LoggedPrediction
from mlops_pipeline.storage.schema import SchemaBehind, head_revision, require_current, upgrade
from tests.support.prediction_batches import append_many, batch


@pytest.fixture
def url(empty_database_url: str) -> str:
    return empty_database_url


def test_a_new_database_is_refused_until_upgraded(url: str) -> None:
    with pytest.raises(SchemaBehind, match="run `mlops db upgrade` first"):
        open_storage(url)
    assert upgrade(url) == (None, head_revision())
    assert upgrade(url) == (head_revision(), head_revision())  # idempotent
    require_current(url)


def test_append_recent_and_newest_rows(storage: Storage) -> None:
    log = storage.predictions
    log.append(batch("a", user_id="alice"))
    log.append(batch("b", rows=3, version="v2", at=1_001.0))
    assert [r["request_id"] for r in log.recent(10)] == ["b", "b", "b", "a"]
    newest = log.recent(2)
    assert [(r["request_id"], r["row_index"]) for r in newest] == [("b", 2), ("b", 1)]
    oldest = log.recent(10)[-1]
    assert oldest == {
        "request_id": "a",
        "created_at": 1_000.0,
        "model_version": "v1",
        "user_id": "alice",
        "latency_ms": 0.5,
        "assignment": "routed",
        "row_index": 0,
        "features": [0.0, 1.0, 2.0, 3.0],
        "prediction": 0,
        "probabilities": [0.5, 0.25, 0.25],
    }
    rows = log.newest_rows(3)
    assert rows.versions == ["v2", "v2", "v2"]
    assert rows.features.shape == (3, 4)
    assert rows.oldest_created_at == 1_001.0
    assert log.newest_rows(4).versions == ["v1", "v2", "v2", "v2"]
    assert (log.count(), log.count_requests()) == (4, 2)


def test_pages_cover_more_than_one_query(storage: Storage) -> None:
    for index in range(150):
        storage.predictions.append(batch(f"r{index:03d}", at=float(index)))
    recent = storage.predictions.recent(1000)
    assert [r["request_id"] for r in recent] == [f"r{i:03d}" for i in range(149, -1, -1)]


def test_a_repeated_request_id_is_refused(storage: Storage) -> None:
    storage.predictions.append(batch("same"))
    with pytest.raises(DuplicateKey):
        storage.predictions.append(batch("same"))
    assert storage.predictions.count_requests() == 1


def test_served_requests_split_routed_and_pinned(storage: Storage) -> None:
    log = storage.predictions
    log.append(batch("r1", at=10.0, weights_version=0))
    log.append(batch("r2", version="v2", at=20.0, weights_version=3))
    log.append(batch("p1", version="v2", at=30.0, assignment=PINNED))
    assert log.served_requests() == {"v1": 1, "v2": 1}
    assert log.served_requests(weights_version=3) == {"v2": 1}
    assert log.served_requests(assignment=PINNED) == {"v2": 1}
    assert log.logged_prediction("p1", 0) == LoggedPrediction("v2", 0, PINNED)
    assert log.logged_prediction("p1", 1) is None
    assert log.logged_prediction("nope", 0) is None


def test_latencies_and_rejections(storage: Storage) -> None:
    for index, latency in enumerate([1.0, 2.0, 3.0]):
        storage.predictions.append(batch(f"l{index}", latency_ms=latency))
    assert storage.predictions.recent_latencies("v1", 2).tolist() == [3.0, 2.0]
    storage.predictions.record_rejection("invalid_feature_value", 5.0)
    storage.predictions.record_rejection("wrong_feature_count", 9.0)
    assert storage.predictions.count_rejections(since=6.0) == 1


def test_labels_replace_and_sequence_in_arrival_order(storage: Storage) -> None:
    routed, pinned = LoggedPrediction("v1", 0), LoggedPrediction("v2", 1, PINNED)
    assert storage.labels.save_label("a", 0, routed, 0, now=1.0) is True
    assert storage.labels.save_label("b", 0, LoggedPrediction("v2", 2), 1, now=2.0) is True
    assert storage.labels.save_label("a", 0, routed, 2, now=3.0) is False  # replaced
    assert storage.labels.save_label("c", 0, pinned, 1, now=4.0) is True
    assert sorted(storage.labels.label_counts()) == [("v1", 0, 2, 1), ("v2", 2, 1, 1)]
    assert storage.labels.label_counts(PINNED) == [("v2", 1, 1, 1)]
    sequence = storage.labels.label_sequence()
    assert sequence.versions == ["v1", "v2"]
    assert sequence.correct.tolist() == [False, False]


def test_weights_are_versioned_and_audited(storage: Storage) -> None:
    assert storage.weights.current() is None
    default = {"v1": 0.5, "v2": 0.5}
    old, first = storage.weights.change(default, {"v1": 0.2, "v2": 0.8}, "a@x", 10.0)
    assert old == default  # nothing stored yet
    # A replica whose view lags passes its stale split; the audit records the stored one.
    old, second = storage.weights.change(default, {"v1": 0.0, "v2": 1.0}, "b@y", 11.0)
    assert old == {"v1": 0.2, "v2": 0.8}
    assert (first.version, second.version) == (1, 2)
    current = storage.weights.current()
    assert current is not None
    assert (current.weights, current.version, current.changed_at) == (
        {"v1": 0.0, "v2": 1.0},
        2,
        11.0,
    )
    history = storage.weights.history(10)
    assert [(c.actor, c.new) for c in history] == [
        ("b@y", {"v1": 0.0, "v2": 1.0}),
        ("a@x", {"v1": 0.2, "v2": 0.8}),
    ]
    assert [c.actor for c in storage.weights.history(1)] == ["b@y"]


def test_shadow_and_reports(storage: Storage) -> None:
    storage.shadow.record_shadow("a", "v1", "v2", rows=4, agreed=3, now=1.0)
    storage.shadow.record_shadow("b", "v1", "v2", rows=4, agreed=4, now=2.0)
    assert storage.shadow.shadow_agreement() == {"v2": {"rows": 8, "agreed": 7, "agreement": 0.875}}
    assert storage.reports.load("drift") is None
    storage.reports.save("drift", '{"score": 0.1}', 5.0, "monitor-a")
    storage.reports.save("drift", '{"score": 0.2}', 6.0, "monitor-b")
    report = storage.reports.load("drift")
    assert report is not None
    assert (report.body, report.computed_at, report.written_by) == (
        '{"score": 0.2}',
        6.0,
        "monitor-b",
    )


def test_everything_survives_a_restart(url: str) -> None:
    upgrade(url)
    first = open_storage(url)
    first.predictions.append(batch("kept", rows=2))
    first.weights.change({"v1": 1.0}, {"v1": 0.5, "v2": 0.5}, "a", 1.0)
    first.close()
    second = open_storage(url)
    assert [r["request_id"] for r in second.predictions.recent(5)] == ["kept", "kept"]
    current = second.weights.current()
    assert current is not None
    assert current.version == 1
    second.close()


def test_two_processes_append_while_a_third_reads(url: str) -> None:
    upgrade(url)
    context = multiprocessing.get_context("spawn")  # no inherited connections
    writers = [context.Process(target=append_many, args=(url, p, 200)) for p in ("x", "y")]
    for writer in writers:
        writer.start()
    reader = open_storage(url)
    seen = []
    while any(writer.is_alive() for writer in writers):
        seen.append(reader.predictions.count_requests())
        reader.predictions.newest_rows(100)
    for writer in writers:
        writer.join()
        assert writer.exitcode == 0
    assert seen == sorted(seen)  # a reader never sees the log shrink
    assert reader.predictions.count_requests() == 400
    ids = {r["request_id"] for r in reader.predictions.recent(1000)}
    assert ids == {f"{p}{i}" for p in ("x", "y") for i in range(200)}
    reader.close()


def test_an_old_sqlite_file_is_upgraded_in_place(tmp_path) -> None:  # type: ignore[no-untyped-def]
    path = tmp_path / "old.db"
    with sqlite3.connect(path) as old:  # as the release before migrations created it
        old.execute(
            "CREATE TABLE predictions (id INTEGER PRIMARY KEY, request_id TEXT NOT NULL UNIQUE,"
            " created_at REAL NOT NULL, model_version TEXT NOT NULL, user_id TEXT,"
            " n_rows INTEGER NOT NULL, features BLOB NOT NULL, predictions BLOB NOT NULL,"
            " probabilities BLOB NOT NULL, latency_ms REAL NOT NULL)"
        )
        old.execute(
            "INSERT INTO predictions (request_id, created_at, model_version, n_rows, features,"
            " predictions, probabilities, latency_ms) VALUES ('old', 1, 'v1', 0, x'', x'', x'', 1)"
        )
    url = f"sqlite:///{path}"
    assert upgrade(url) == (None, head_revision())
    storage = open_storage(url)
    storage.predictions.append(replace(batch("new"), assignment=PINNED))
    assert storage.predictions.served_requests() == {"v1": 1}  # the old row counts as routed
    assert storage.predictions.served_requests(assignment=PINNED) == {"v1": 1}
    storage.close()


def test_a_failing_transaction_is_translated_and_rolled_back(storage: Storage) -> None:
    from mlops_pipeline.storage.records import LoggedPrediction as Logged

    storage.labels.save_label("a", 0, Logged("v1", 0), 0, now=1.0)

    def duplicate(cursor) -> None:  # type: ignore[no-untyped-def]
        cursor.execute(
            "INSERT INTO weight_changes (changed_at, actor, old_weights, new_weights)"
            " VALUES (?, ?, ?, ?)",
            (1.0, "x", "{}", "{}"),
        )
        cursor.execute(
            "INSERT INTO feedback (request_id, row_index, model_version, predicted, true_label,"
            " first_labelled_at, labelled_at) VALUES ('a', 0, 'v1', 0, 0, 1, 1)"
        )

    with pytest.raises(DuplicateKey):
        storage.database.transaction(duplicate)
    assert storage.weights.history(10) == []  # the first insert was rolled back
    storage.weights.change({"v1": 1.0}, {"v1": 0.5, "v2": 0.5}, "after", 2.0)  # not locked
    assert [c.actor for c in storage.weights.history(10)] == ["after"]
