from __future__ import annotations

import multiprocessing
import sqlite3
from dataclasses import replace
from pathlib import Path

import numpy as np

from mlops_pipeline.store import PredictionBatch, SQLitePredictionStore


def batch(
    request_id: str, rows: int = 1, version: str = "v1", user: str | None = None
) -> PredictionBatch:
    features = np.arange(rows * 4, dtype=np.float64).reshape(rows, 4)
    return PredictionBatch(
        request_id=request_id,
        created_at=1_700_000_000.0,
        model_version=version,
        user_id=user,
        features=features,
        predictions=np.arange(rows, dtype=np.int64) % 3,
        probabilities=np.tile([0.5, 0.25, 0.25], (rows, 1)),
        latency_ms=0.5,
    )


def test_append_then_recent_newest_first(tmp_path: Path) -> None:
    store = SQLitePredictionStore(tmp_path / "log.db")
    store.append(batch("a", user="alice"))
    store.append(batch("b", version="v2"))
    rows = store.recent(10)
    assert [row["request_id"] for row in rows] == ["b", "a"]
    assert rows[1] == {
        "request_id": "a",
        "row_index": 0,
        "created_at": 1_700_000_000.0,
        "model_version": "v1",
        "user_id": "alice",
        "assignment": "routed",
        "features": [0.0, 1.0, 2.0, 3.0],
        "prediction": 0,
        "probabilities": [0.5, 0.25, 0.25],
        "latency_ms": 0.5,
    }
    assert store.recent(1)[0]["request_id"] == "b"


def test_batch_is_one_row_per_instance(tmp_path: Path) -> None:
    store = SQLitePredictionStore(tmp_path / "log.db")
    store.append(batch("big", rows=250))
    assert store.count() == 250
    newest = store.recent(2)
    assert [(row["request_id"], row["row_index"]) for row in newest] == [("big", 249), ("big", 248)]
    assert newest[0]["features"] == [996.0, 997.0, 998.0, 999.0]


def test_rows_survive_reopening(tmp_path: Path) -> None:
    path = tmp_path / "log.db"
    store = SQLitePredictionStore(path)
    store.append(batch("kept"))
    store.close()
    assert SQLitePredictionStore(path).recent(5)[0]["request_id"] == "kept"


def test_committed_rows_are_visible_to_another_connection_immediately(tmp_path: Path) -> None:
    path = tmp_path / "log.db"
    SQLitePredictionStore(path).append(batch("x"))
    with sqlite3.connect(path) as other:
        assert other.execute("SELECT request_id FROM predictions").fetchall() == [("x",)]


def test_duplicate_request_id_is_refused_and_nothing_half_written(tmp_path: Path) -> None:
    store = SQLitePredictionStore(tmp_path / "log.db")
    store.append(batch("dup", rows=3))
    try:
        store.append(batch("dup", rows=3))
    except sqlite3.IntegrityError:
        pass
    else:
        raise AssertionError("duplicate (request_id, row_index) was accepted")
    assert store.count() == 3


def _writer(path: Path, prefix: str, count: int) -> None:
    store = SQLitePredictionStore(path)
    for n in range(count):
        store.append(batch(f"{prefix}-{n}"))


def test_concurrent_writers_in_separate_processes_lose_nothing(tmp_path: Path) -> None:
    path = tmp_path / "log.db"
    SQLitePredictionStore(path)
    context = multiprocessing.get_context("spawn")
    writers = [context.Process(target=_writer, args=(path, f"w{i}", 300)) for i in range(3)]
    for process in writers:
        process.start()
    for process in writers:
        process.join(60)
    assert [process.exitcode for process in writers] == [0, 0, 0]
    store = SQLitePredictionStore(path)
    assert store.count() == 900
    ids = {row["request_id"] for row in store.recent(900)}
    assert len(ids) == 900


def test_newest_rows_cross_requests_oldest_first(tmp_path: Path) -> None:
    store = SQLitePredictionStore(tmp_path / "log.db")
    store.append(batch("a", rows=3, version="v1"))
    store.append(batch("b", rows=2, version="v2"))
    rows = store.newest_rows(4)
    # The newest 4: last 2 of "a" then both of "b".
    assert rows.features[:, 0].tolist() == [4.0, 8.0, 0.0, 4.0]
    assert rows.predictions.tolist() == [1, 2, 0, 1]
    assert rows.versions == ["v1", "v1", "v2", "v2"]
    assert rows.oldest_created_at == 1_700_000_000.0


def test_newest_rows_of_an_empty_log(tmp_path: Path) -> None:
    rows = SQLitePredictionStore(tmp_path / "log.db").newest_rows(10)
    assert (len(rows.predictions), rows.versions, rows.oldest_created_at) == (0, [], None)


def test_newest_rows_pages_through_many_requests(tmp_path: Path) -> None:
    store = SQLitePredictionStore(tmp_path / "log.db")
    for n in range(150):
        store.append(batch(f"r{n}"))
    assert len(store.newest_rows(140).predictions) == 140
    assert len(store.recent(200)) == 150


def test_rejections_are_counted_since_a_time(tmp_path: Path) -> None:
    store = SQLitePredictionStore(tmp_path / "log.db")
    for when in (10.0, 20.0, 30.0):
        store.record_rejection("invalid_feature_value", when)
    assert store.count_rejections(since=20.0) == 2
    assert store.count_rejections(since=31.0) == 0


def test_assignment_is_logged_and_an_old_file_is_upgraded(tmp_path: Path) -> None:
    path = tmp_path / "old.db"
    with sqlite3.connect(path) as old:  # the table as the previous release created it
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
    store = SQLitePredictionStore(path)
    store.append(replace(batch("p"), assignment="pinned"))
    again = SQLitePredictionStore(path)  # a second worker opening the same file
    again.append(batch("r"))
    with sqlite3.connect(path) as db:
        rows = db.execute("SELECT request_id, assignment FROM predictions ORDER BY id").fetchall()
    assert rows == [("old", "routed"), ("p", "pinned"), ("r", "routed")]
