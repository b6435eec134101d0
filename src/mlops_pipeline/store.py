"""The prediction log: every answered prediction, committed before its response is sent.

``PredictionStore`` is the interface the service uses; ``SQLitePredictionStore`` is the embedded
implementation (one file shared by all gunicorn workers through SQLite's WAL mode).
"""

from __future__ import annotations

import json
import sqlite3
import threading
import time
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path
from typing import Any, Protocol, TypeVar

import numpy as np
from numpy.typing import NDArray

T = TypeVar("T")

SCHEMA_VERSION = 1
SCHEMA = """
CREATE TABLE IF NOT EXISTS predictions (
    id            INTEGER PRIMARY KEY,  -- rowid: increases with every insert
    request_id    TEXT    NOT NULL,
    row_index     INTEGER NOT NULL,
    created_at    REAL    NOT NULL,
    model_version TEXT    NOT NULL,
    user_id       TEXT,
    features      TEXT    NOT NULL,
    prediction    INTEGER NOT NULL,
    probabilities TEXT    NOT NULL,
    latency_ms    REAL    NOT NULL,
    UNIQUE (request_id, row_index)
);
"""
INSERT = (
    "INSERT INTO predictions (request_id, row_index, created_at, model_version, user_id,"
    " features, prediction, probabilities, latency_ms) VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?)"
)
COLUMNS = (
    "request_id, row_index, created_at, model_version, user_id, features, prediction,"
    " probabilities, latency_ms"
)


@dataclass(frozen=True)
class PredictionBatch:
    """One answered request: one row for a single prediction, many for a batch."""

    request_id: str
    created_at: float  # Unix seconds
    model_version: str
    user_id: str | None
    features: NDArray[np.float64]
    predictions: NDArray[np.int64]
    probabilities: NDArray[np.float64]
    latency_ms: float


class PredictionStore(Protocol):
    def append(self, batch: PredictionBatch) -> None:
        """Durably record the batch; return only once it is committed."""

    def recent(self, limit: int) -> list[dict[str, Any]]:
        """The newest ``limit`` rows, newest first."""

    def count(self) -> int: ...

    def close(self) -> None: ...


class SQLitePredictionStore:
    def __init__(self, path: Path, busy_timeout_ms: int = 5_000) -> None:
        self.path = path
        self._busy_timeout_ms = busy_timeout_ms
        self._local = threading.local()
        self._connections: list[sqlite3.Connection] = []
        self._lock = threading.Lock()
        path.parent.mkdir(parents=True, exist_ok=True)
        connection = self._connection()
        self._retry_while_locked(lambda: connection.executescript(SCHEMA))
        self._retry_while_locked(
            lambda: connection.execute(f"PRAGMA user_version = {SCHEMA_VERSION}")
        )

    def _connection(self) -> sqlite3.Connection:
        connection: sqlite3.Connection | None = getattr(self._local, "connection", None)
        if connection is None:
            # timeout=0: SQLite's own busy handler sleeps in whole milliseconds, which dominates
            # a sub-millisecond request when two workers collide; _write retries far sooner.
            connection = sqlite3.connect(
                self.path, timeout=0, check_same_thread=False, isolation_level=None
            )
            # WAL lets every worker read while one writes. synchronous=NORMAL commits to the WAL
            # without fsync: a killed process loses nothing it committed; only power loss could.
            self._retry_while_locked(lambda: connection.execute("PRAGMA journal_mode=WAL"))
            connection.execute("PRAGMA synchronous=NORMAL")
            connection.row_factory = sqlite3.Row
            self._local.connection = connection
            with self._lock:
                self._connections.append(connection)
        return connection

    def append(self, batch: PredictionBatch) -> None:
        features = batch.features.tolist()
        probabilities = batch.probabilities.tolist()
        predictions = batch.predictions.tolist()
        rows = [
            (
                batch.request_id,
                index,
                batch.created_at,
                batch.model_version,
                batch.user_id,
                json.dumps(features[index]),
                predictions[index],
                json.dumps(probabilities[index]),
                batch.latency_ms,
            )
            for index in range(len(predictions))
        ]
        connection = self._connection()
        if len(rows) == 1:
            # One statement in autocommit mode is its own transaction: no BEGIN/COMMIT trips.
            self._retry_while_locked(lambda: connection.execute(INSERT, rows[0]))
            return
        self._retry_while_locked(lambda: connection.execute("BEGIN IMMEDIATE"))
        try:
            connection.executemany(INSERT, rows)
        except BaseException:
            connection.execute("ROLLBACK")
            raise
        self._retry_while_locked(lambda: connection.execute("COMMIT"))

    def _retry_while_locked(self, statement: Callable[[], T]) -> T:
        deadline = time.monotonic() + self._busy_timeout_ms / 1000
        pause = 20e-6
        while True:
            try:
                return statement()
            except sqlite3.OperationalError as exc:
                if "locked" not in str(exc) or time.monotonic() > deadline:
                    raise
            time.sleep(pause)
            pause = min(pause * 2, 2e-3)

    def recent(self, limit: int) -> list[dict[str, Any]]:
        connection = self._connection()
        rows = self._retry_while_locked(
            lambda: connection.execute(
                f"SELECT {COLUMNS} FROM predictions ORDER BY id DESC LIMIT ?", (limit,)
            ).fetchall()
        )
        return [_row_to_dict(row) for row in rows]

    def count(self) -> int:
        connection = self._connection()
        (total,) = self._retry_while_locked(
            lambda: connection.execute("SELECT COUNT(*) FROM predictions").fetchone()
        )
        return int(total)

    def close(self) -> None:
        with self._lock:
            for connection in self._connections:
                connection.close()
            self._connections.clear()
        self._local = threading.local()


def _row_to_dict(row: sqlite3.Row) -> dict[str, Any]:
    record = dict(row)
    record["features"] = json.loads(record["features"])
    record["probabilities"] = json.loads(record["probabilities"])
    return record
