"""The prediction log and the rejected inputs: every answered request, committed before its answer.

Owner of the tables ``predictions`` and ``rejected_inputs``. A batch's rows travel together as
little-endian float64/int64 arrays, so logging 10,000 predictions costs one insert, not 10,000.
Typed rows (string, integer, boolean or nullable columns) go to the JSON column
``typed_features`` instead of the float blob (left empty); see storage/typed_rows.py.
"""

from __future__ import annotations

from collections.abc import Iterator
from typing import Any

import numpy as np
from numpy.typing import NDArray

from mlops_pipeline.schema.rows import TypedBatch
from mlops_pipeline.storage import typed_rows
from mlops_pipeline.storage.database import Database, Row, iter_pages
from mlops_pipeline.storage.records import (
    FLOAT,
    INT,
    ROUTED,
    LoggedPrediction,
    LoggedRows,
    PredictionBatch,
)

INSERT = (
    "INSERT INTO predictions (request_id, created_at, model_version, user_id, n_rows, features,"
    " predictions, probabilities, latency_ms, assignment, weights_version, client_id)"
    " VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?)"
)
COLUMNS = (
    "id, request_id, created_at, model_version, user_id, n_rows, features, predictions,"
    " probabilities, latency_ms, assignment, client_id"
)
PAGE_SIZE = 64
PAGE = f"SELECT {COLUMNS} FROM predictions WHERE id < ? ORDER BY id DESC LIMIT {PAGE_SIZE}"
# Typed rows: the same insert plus the JSON column. A separate statement, so the all-numeric
# (Iris) write and its reads stay exactly what they were before typed rows existed.
INSERT_TYPED = INSERT.replace(", client_id)", ", client_id, typed_features)").replace(
    "?)", "?, {json})"
)
RECENT_PAGE = PAGE.replace(", client_id FROM", ", client_id, typed_features FROM")
TYPED_PAGE = (
    "SELECT id, created_at, model_version, n_rows, predictions, client_id, typed_features"
    f" FROM predictions WHERE id < ? ORDER BY id DESC LIMIT {PAGE_SIZE}"
)


class PredictionLog:
    def __init__(self, database: Database) -> None:
        self._db = database
        # psycopg sends text as text: PostgreSQL casts it to JSONB only when told to.
        cast = "CAST(? AS JSONB)" if database.dialect == "postgresql" else "?"
        self._insert_typed = INSERT_TYPED.format(json=cast)

    def append(self, batch: PredictionBatch) -> None:
        """Committed when it returns; raises StoreUnavailable or DuplicateKey."""
        if isinstance(batch.features, TypedBatch):
            self._append_typed(batch, batch.features)
            return
        self._db.append(
            INSERT,
            (
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
                batch.weights_version,
                batch.client_id,
            ),
        )

    def _append_typed(self, batch: PredictionBatch, features: TypedBatch) -> None:
        self._db.append(self._insert_typed, typed_rows.insert_params(batch, features))

    def _newest(self, page: str = PAGE) -> Iterator[Row]:
        return iter_pages(lambda before: self._db.fetchall(page, (before,)), PAGE_SIZE)

    def recent(self, limit: int) -> list[dict[str, Any]]:
        """The newest ``limit`` predictions (a batch contributes one per row), newest first."""
        records: list[dict[str, Any]] = []
        for row in self._newest(RECENT_PAGE):
            if len(records) >= limit:
                break
            records.extend(_expand(row, limit - len(records)))
        return records

    def newest_rows(self, limit: int) -> LoggedRows:
        """The newest ``limit`` predicted rows, across requests, workers and replicas."""
        chunks: list[tuple[NDArray[np.float64], NDArray[np.int64], str, str | None]] = []
        oldest: float | None = None
        taken = 0
        for row in self._newest():
            if taken >= limit:
                break
            n_rows = row[5]
            keep = min(n_rows, limit - taken)  # the newest rows of a batch that overflows
            matrix = np.frombuffer(row[6], dtype=FLOAT).reshape(n_rows, -1)
            classes = np.frombuffer(row[7], dtype=INT)
            chunks.append((matrix[n_rows - keep :], classes[n_rows - keep :], row[3], row[11]))
            oldest = float(row[2])
            taken += keep
        if not chunks:
            return LoggedRows(np.empty((0, 0)), np.empty(0, dtype=np.int64), [], None)
        chunks.reverse()  # requests arrived newest first; rows run oldest to newest
        return LoggedRows(
            np.vstack([chunk[0] for chunk in chunks]),
            np.concatenate([chunk[1] for chunk in chunks]).astype(np.int64),
            [version for _, classes, version, _ in chunks for _ in range(len(classes))],
            oldest,
            [client for _, classes, _, client in chunks for _ in range(len(classes))],
        )

    def newest_typed_rows(self, limit: int) -> LoggedRows:
        """``newest_rows`` for a typed schema: the rows' values by column name in ``typed``.
        Requests logged without typed values (an all-numeric model served before) are skipped:
        they belong to another schema."""
        return typed_rows.newest(self._newest(TYPED_PAGE), limit)

    def count(self) -> int:
        """Predicted rows logged (rows, not requests)."""
        row = self._db.fetchone("SELECT COALESCE(SUM(n_rows), 0) FROM predictions")
        return int(row[0]) if row else 0

    def count_requests(self) -> int:
        row = self._db.fetchone("SELECT COUNT(*) FROM predictions")
        return int(row[0]) if row else 0

    def logged_prediction(self, request_id: str, row_index: int) -> LoggedPrediction | None:
        row = self._db.fetchone(
            "SELECT model_version, n_rows, predictions, assignment FROM predictions"
            " WHERE request_id = ?",
            (request_id,),
        )
        if row is None or not 0 <= row_index < row[1]:
            return None
        predicted = int(np.frombuffer(row[2], dtype=INT)[row_index])
        return LoggedPrediction(row[0], predicted, row[3])

    def served_requests(
        self, weights_version: int | None = None, assignment: str = ROUTED
    ) -> dict[str, int]:
        """Requests answered per version and so assigned; optionally only those routed under
        one stored split (every replica records the split's version, whatever its clock)."""
        if weights_version is None:
            rows = self._db.fetchall(
                "SELECT model_version, COUNT(*) FROM predictions WHERE assignment = ?"
                " GROUP BY model_version",
                (assignment,),
            )
        else:
            rows = self._db.fetchall(
                "SELECT model_version, COUNT(*) FROM predictions"
                " WHERE assignment = ? AND weights_version = ? GROUP BY model_version",
                (assignment, weights_version),
            )
        return {str(r[0]): int(r[1]) for r in rows}

    def requests_by_epoch(
        self, after_id: int, first_weights_version: int
    ) -> dict[tuple[int, str], int]:
        """Routed requests per (weights version, model version) logged after ``after_id``.

        The id bound keeps this a range scan of the newest rows, never the whole log.
        """
        rows = self._db.fetchall(
            "SELECT weights_version, model_version, COUNT(*) FROM predictions"
            " WHERE id > ? AND assignment = ? AND weights_version >= ?"
            " GROUP BY weights_version, model_version",
            (after_id, ROUTED, first_weights_version),
        )
        return {(int(r[0]), str(r[1])): int(r[2]) for r in rows}

    def epoch_latency_samples(
        self, after_id: int, version: str, weights_version: int, limit: int
    ) -> list[tuple[float, int, str | None]]:
        """(latency ms, rows, client) of the newest ``limit`` requests ``version`` answered
        under one split, newest first: the rollout judges latency per row and per client."""
        rows = self._db.fetchall(
            "SELECT latency_ms, n_rows, client_id FROM predictions WHERE id > ?"
            " AND model_version = ? AND weights_version = ? AND assignment = ?"
            " ORDER BY id DESC LIMIT ?",
            (after_id, version, weights_version, ROUTED, limit),
        )
        return [(float(r[0]), int(r[1]), r[2]) for r in rows]

    def units_by_version(
        self, after_id: int = 0, weights_version: int | None = None
    ) -> dict[str, int]:
        """Routed randomization units per version (under one split when ``weights_version`` is
        given): each sticky user once, each request without a user id once. A user sent many
        times counts once, as routing did."""
        sql = (
            "SELECT model_version, COUNT(DISTINCT COALESCE(user_id, request_id)) FROM predictions"
            " WHERE id > ? AND assignment = ?"
        )
        params: tuple[int | str, ...] = (after_id, ROUTED)
        if weights_version is not None:
            sql, params = sql + " AND weights_version = ?", (*params, weights_version)
        rows = self._db.fetchall(sql + " GROUP BY model_version", params)
        return {str(r[0]): int(r[1]) for r in rows}

    def recent_latencies(self, version: str, limit: int) -> NDArray[np.float64]:
        rows = self._db.fetchall(
            "SELECT latency_ms FROM predictions WHERE model_version = ? ORDER BY id DESC LIMIT ?",
            (version, limit),
        )
        return np.array([r[0] for r in rows], dtype=np.float64)

    def oldest(
        self, limit: int, skip_labelled_since: float | None = None
    ) -> list[tuple[int, float, bool]]:
        """(id, created_at, labelled) of the oldest ``limit`` requests, oldest first.

        Read from the left edge of the id order, so retention never scans the whole table.
        With ``skip_labelled_since``, labelled requests created at or after it are left out: the
        row bound may not delete them, and a run of them at the left edge must not hide the
        deletable requests behind it.
        """
        labelled = "EXISTS (SELECT 1 FROM feedback f WHERE f.request_id = p.request_id)"
        if skip_labelled_since is None:
            sql = f"SELECT p.id, p.created_at, {labelled} FROM predictions p ORDER BY p.id LIMIT ?"
            params: tuple[float | int, ...] = (limit,)
        else:
            sql = (
                f"SELECT p.id, p.created_at, {labelled} FROM predictions p"
                f" WHERE p.created_at < ? OR NOT {labelled} ORDER BY p.id LIMIT ?"
            )
            params = (skip_labelled_since, limit)
        rows = self._db.fetchall(sql, params)
        return [(int(r[0]), float(r[1]), bool(r[2])) for r in rows]

    def newest_id(self, offset: int) -> int | None:
        """The id of the request ``offset`` places from the newest (0 is the newest)."""
        row = self._db.fetchone(
            "SELECT id FROM predictions ORDER BY id DESC LIMIT 1 OFFSET ?", (offset,)
        )
        return None if row is None else int(row[0])

    def delete(self, ids: list[int]) -> int:
        if not ids:
            return 0
        marks = ", ".join("?" * len(ids))
        return self._db.execute(f"DELETE FROM predictions WHERE id IN ({marks})", ids)

    def prune_rejections(self, before: float, limit: int) -> int:
        return self._db.execute(
            "DELETE FROM rejected_inputs WHERE id IN (SELECT id FROM rejected_inputs"
            " WHERE created_at < ? ORDER BY created_at LIMIT ?)",
            (before, limit),
        )

    def record_rejection(self, code: str, created_at: float) -> None:
        self._db.execute(
            "INSERT INTO rejected_inputs (created_at, code) VALUES (?, ?)", (created_at, code)
        )

    def count_rejections(self, since: float) -> int:
        row = self._db.fetchone(
            "SELECT COUNT(*) FROM rejected_inputs WHERE created_at >= ?", (since,)
        )
        return int(row[0]) if row else 0


def _expand(row: Row, limit: int) -> list[dict[str, Any]]:
    """One dict per predicted row of a logged request, last row first, at most ``limit``."""
    request_id, created_at, version, user_id, n_rows = row[1:6]
    features, classes, probs, latency, assignment = row[6:11]
    # Typed rows: each row's object by column name; otherwise the float matrix's row as a list.
    typed = None if row[12] is None else typed_rows.decode(row[12])
    matrix = np.frombuffer(features, dtype=FLOAT).reshape(n_rows, -1)
    predicted = np.frombuffer(classes, dtype=INT)
    probabilities = np.frombuffer(probs, dtype=FLOAT).reshape(n_rows, -1)
    common = {
        "request_id": request_id,
        "created_at": created_at,
        "model_version": version,
        "user_id": user_id,
        "latency_ms": latency,
        "assignment": assignment,
    }
    return [
        {
            **common,
            "row_index": index,
            "features": matrix[index].tolist() if typed is None else typed[index],
            "prediction": int(predicted[index]),
            "probabilities": probabilities[index].tolist(),
        }
        for index in range(n_rows - 1, max(n_rows - 1 - limit, -1), -1)
    ]
