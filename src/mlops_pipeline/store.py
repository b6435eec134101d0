"""The prediction log: every answered prediction, committed before its response is sent.

``PredictionStore`` is the interface the service uses; ``SQLitePredictionStore`` is the embedded
implementation (one file shared by all gunicorn workers through SQLite's WAL mode).
"""

from __future__ import annotations

import sqlite3
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any, Protocol

import numpy as np
from numpy.typing import NDArray

from mlops_pipeline.sqlite import SQLiteDatabase

FLOAT = np.dtype("<f8")
INT = np.dtype("<i8")

# One row per answered request; a batch's rows travel together as float64/int64 arrays, so
# logging 10,000 predictions costs one insert, not 10,000.
SCHEMA = """
CREATE TABLE IF NOT EXISTS predictions (
    id            INTEGER PRIMARY KEY,  -- rowid: increases with every insert
    request_id    TEXT    NOT NULL UNIQUE,
    created_at    REAL    NOT NULL,     -- Unix seconds
    model_version TEXT    NOT NULL,
    user_id       TEXT,
    n_rows        INTEGER NOT NULL,
    features      BLOB    NOT NULL,     -- n_rows x n_features float64, little-endian, row-major
    predictions   BLOB    NOT NULL,     -- n_rows int64 class indices, little-endian
    probabilities BLOB    NOT NULL,     -- n_rows x n_classes float64, little-endian, row-major
    latency_ms    REAL    NOT NULL,
    -- 'routed': the A/B router chose the version (randomly or by sticky user); 'pinned': the
    -- caller named it. Only routed traffic is experiment traffic.
    assignment    TEXT    NOT NULL DEFAULT 'routed'
);
-- Inputs refused as invalid (NaN, wrong width, ...): drift detection counts them as bad values.
CREATE TABLE IF NOT EXISTS rejected_inputs (
    id         INTEGER PRIMARY KEY,
    created_at REAL    NOT NULL,
    code       TEXT    NOT NULL
);
CREATE INDEX IF NOT EXISTS rejected_inputs_created_at ON rejected_inputs (created_at);
"""
INSERT = (
    "INSERT INTO predictions (request_id, created_at, model_version, user_id, n_rows, features,"
    " predictions, probabilities, latency_ms, assignment) VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?)"
)
COLUMNS = (
    "request_id, created_at, model_version, user_id, n_rows, features, predictions,"
    " probabilities, latency_ms, assignment"
)
ROUTED = "routed"
PINNED = "pinned"

RECENT_PAGE_SIZE = 64
RECENT_PAGE = (
    f"SELECT id, {COLUMNS} FROM predictions WHERE id < ? ORDER BY id DESC LIMIT {RECENT_PAGE_SIZE}"
)


class StoreUnavailable(RuntimeError):
    """The log cannot take the write (disk full, read-only file, locked too long)."""


@dataclass(frozen=True)
class LoggedRows:
    """The newest logged rows as arrays, oldest first (what drift detection compares)."""

    features: NDArray[np.float64]
    predictions: NDArray[np.int64]
    versions: list[str]
    oldest_created_at: float | None


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
    assignment: str = ROUTED  # ROUTED or PINNED


class PredictionStore(Protocol):
    def append(self, batch: PredictionBatch) -> None:
        """Durably record the batch; return only once it is committed."""

    def recent(self, limit: int) -> list[dict[str, Any]]:
        """The newest ``limit`` predictions, newest first."""

    def count(self) -> int:
        """Predictions logged (rows, not requests)."""

    def newest_rows(self, limit: int) -> LoggedRows:
        """The newest ``limit`` predicted rows, across requests and workers."""

    def record_rejection(self, code: str, created_at: float) -> None:
        """Note an input refused as invalid."""

    def count_rejections(self, since: float) -> int:
        """Inputs refused at or after ``since`` (Unix seconds)."""

    def close(self) -> None: ...


class SQLitePredictionStore(SQLiteDatabase):
    def __init__(self, path: Path, busy_timeout_ms: int = 5_000) -> None:
        super().__init__(path, SCHEMA, busy_timeout_ms)
        self._add_column("predictions", "assignment", f"TEXT NOT NULL DEFAULT '{ROUTED}'")

    def append(self, batch: PredictionBatch) -> None:
        row = (
            batch.request_id,
            batch.created_at,
            batch.model_version,
            batch.user_id,
            len(batch.predictions),
            np.ascontiguousarray(batch.features, dtype=FLOAT).tobytes(),
            np.ascontiguousarray(batch.predictions, dtype=INT).tobytes(),
            np.ascontiguousarray(batch.probabilities, dtype=FLOAT).tobytes(),
            batch.latency_ms,
            batch.assignment,
        )
        connection = self._connection()
        # One statement in autocommit mode is its own transaction, committed when it returns.
        try:
            self._retry_while_locked(lambda: connection.execute(INSERT, row))
        except (sqlite3.OperationalError, sqlite3.DatabaseError) as exc:
            if isinstance(exc, sqlite3.IntegrityError):
                raise
            raise StoreUnavailable(str(exc)) from exc

    def _newest_requests(self) -> Iterator[sqlite3.Row]:
        """Logged requests, newest first, read a page at a time (no long-lived cursor)."""
        connection = self._connection()
        before = 2**63 - 1  # above every rowid
        while True:
            rows = self._retry_while_locked(
                lambda before=before: connection.execute(RECENT_PAGE, (before,)).fetchall()  # type: ignore[misc]
            )
            yield from rows
            if len(rows) < RECENT_PAGE_SIZE:
                return
            before = rows[-1]["id"]

    def recent(self, limit: int) -> list[dict[str, Any]]:
        """The newest ``limit`` predictions (a batch contributes one per row), newest first."""
        records: list[dict[str, Any]] = []
        for row in self._newest_requests():
            if len(records) >= limit:
                break
            records.extend(_expand(row, limit - len(records)))
        return records

    def newest_rows(self, limit: int) -> LoggedRows:
        chunks: list[tuple[NDArray[np.float64], NDArray[np.int64], str]] = []
        oldest: float | None = None
        taken = 0
        for row in self._newest_requests():
            if taken >= limit:
                break
            n_rows = row["n_rows"]
            keep = min(n_rows, limit - taken)  # the newest rows of a batch that overflows
            matrix = np.frombuffer(row["features"], dtype=FLOAT).reshape(n_rows, -1)
            classes = np.frombuffer(row["predictions"], dtype=INT)
            chunks.append((matrix[n_rows - keep :], classes[n_rows - keep :], row["model_version"]))
            oldest = row["created_at"]
            taken += keep
        if not chunks:
            return LoggedRows(np.empty((0, 0)), np.empty(0, dtype=np.int64), [], None)
        chunks.reverse()  # requests arrived newest first; rows run oldest to newest
        return LoggedRows(
            np.vstack([features for features, _, _ in chunks]),
            np.concatenate([classes for _, classes, _ in chunks]).astype(np.int64),
            [version for _, classes, version in chunks for _ in range(len(classes))],
            oldest,
        )

    def record_rejection(self, code: str, created_at: float) -> None:
        connection = self._connection()
        self._retry_while_locked(
            lambda: connection.execute(
                "INSERT INTO rejected_inputs (created_at, code) VALUES (?, ?)", (created_at, code)
            )
        )

    def count_rejections(self, since: float) -> int:
        connection = self._connection()
        (total,) = self._retry_while_locked(
            lambda: connection.execute(
                "SELECT COUNT(*) FROM rejected_inputs WHERE created_at >= ?", (since,)
            ).fetchone()
        )
        return int(total)

    def count(self) -> int:
        connection = self._connection()
        (total,) = self._retry_while_locked(
            lambda: connection.execute(
                "SELECT COALESCE(SUM(n_rows), 0) FROM predictions"
            ).fetchone()
        )
        return int(total)


def _expand(row: sqlite3.Row, limit: int) -> list[dict[str, Any]]:
    """One dict per predicted row of a logged request, last row first, at most ``limit``."""
    n_rows = row["n_rows"]
    features = np.frombuffer(row["features"], dtype=FLOAT).reshape(n_rows, -1)
    predictions = np.frombuffer(row["predictions"], dtype=INT)
    probabilities = np.frombuffer(row["probabilities"], dtype=FLOAT).reshape(n_rows, -1)
    common = {
        "request_id": row["request_id"],
        "created_at": row["created_at"],
        "model_version": row["model_version"],
        "user_id": row["user_id"],
        "latency_ms": row["latency_ms"],
        "assignment": row["assignment"],
    }
    return [
        {
            **common,
            "row_index": index,
            "features": features[index].tolist(),
            "prediction": int(predictions[index]),
            "probabilities": probabilities[index].tolist(),
        }
        for index in range(n_rows - 1, max(n_rows - 1 - limit, -1), -1)
    ]
