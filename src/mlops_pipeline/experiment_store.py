"""Experiment state in the prediction log's SQLite file: ground-truth labels, weights, audit."""

from __future__ import annotations

import json
import sqlite3
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np
from numpy.typing import NDArray

from mlops_pipeline.sqlite import SQLiteDatabase
from mlops_pipeline.store import INT, ROUTED

SCHEMA = """
CREATE TABLE IF NOT EXISTS feedback (
    request_id        TEXT    NOT NULL,
    row_index         INTEGER NOT NULL,
    model_version     TEXT    NOT NULL,
    predicted         INTEGER NOT NULL,
    true_label        INTEGER NOT NULL,
    first_labelled_at REAL    NOT NULL,  -- order of arrival for the sequential test
    labelled_at       REAL    NOT NULL,  -- last change (a second label replaces the first)
    assignment        TEXT    NOT NULL DEFAULT 'routed',  -- of the labelled prediction
    PRIMARY KEY (request_id, row_index)
);
-- The traffic split set at run time; one row, absent until the first change.
CREATE TABLE IF NOT EXISTS ab_weights (
    id         INTEGER PRIMARY KEY CHECK (id = 1),
    weights    TEXT    NOT NULL,
    changed_at REAL    NOT NULL
);
CREATE TABLE IF NOT EXISTS shadow_results (
    id              INTEGER PRIMARY KEY,
    created_at      REAL    NOT NULL,
    request_id      TEXT    NOT NULL,
    primary_version TEXT    NOT NULL,
    shadow_version  TEXT    NOT NULL,
    rows            INTEGER NOT NULL,
    agreed          INTEGER NOT NULL
);
CREATE TABLE IF NOT EXISTS weight_changes (
    id          INTEGER PRIMARY KEY,
    changed_at  REAL    NOT NULL,
    actor       TEXT    NOT NULL,
    old_weights TEXT    NOT NULL,
    new_weights TEXT    NOT NULL
);
"""


@dataclass(frozen=True)
class LoggedPrediction:
    model_version: str
    predicted: int
    assignment: str = ROUTED


@dataclass(frozen=True)
class LabelSequence:
    versions: list[str]
    correct: NDArray[np.bool_]


class SQLiteExperimentStore(SQLiteDatabase):
    """Needs the ``predictions`` table of ``SQLitePredictionStore`` in the same file."""

    def __init__(self, path: Path, busy_timeout_ms: int = 5_000) -> None:
        super().__init__(path, SCHEMA, busy_timeout_ms)
        self._add_column("feedback", "assignment", f"TEXT NOT NULL DEFAULT '{ROUTED}'")

    def logged_prediction(self, request_id: str, row_index: int) -> LoggedPrediction | None:
        connection = self._connection()
        row = self._retry_while_locked(
            lambda: connection.execute(
                "SELECT model_version, n_rows, predictions, assignment FROM predictions"
                " WHERE request_id = ?",
                (request_id,),
            ).fetchone()
        )
        if row is None or not 0 <= row_index < row["n_rows"]:
            return None
        predicted = int(np.frombuffer(row["predictions"], dtype=INT)[row_index])
        return LoggedPrediction(row["model_version"], predicted, row["assignment"])

    def save_label(
        self, request_id: str, row_index: int, logged: LoggedPrediction, label: int, now: float
    ) -> bool:
        """Store or replace the label; True when the prediction had none before."""

        def upsert(connection: sqlite3.Connection) -> bool:
            existing = connection.execute(
                "SELECT 1 FROM feedback WHERE request_id = ? AND row_index = ?",
                (request_id, row_index),
            ).fetchone()
            connection.execute(
                "INSERT INTO feedback (request_id, row_index, model_version, predicted,"
                " true_label, first_labelled_at, labelled_at, assignment)"
                " VALUES (?, ?, ?, ?, ?, ?, ?, ?)"
                " ON CONFLICT (request_id, row_index) DO UPDATE"
                " SET true_label = excluded.true_label, labelled_at = excluded.labelled_at",
                (
                    request_id,
                    row_index,
                    logged.model_version,
                    logged.predicted,
                    label,
                    now,
                    now,
                    logged.assignment,
                ),
            )
            return existing is None

        return self._transaction(upsert)

    def label_counts(self, assignment: str = ROUTED) -> list[tuple[str, int, int, int]]:
        """(version, predicted, true label, count) over labelled predictions so assigned."""
        connection = self._connection()
        rows = self._retry_while_locked(
            lambda: connection.execute(
                "SELECT model_version, predicted, true_label, COUNT(*) FROM feedback"
                " WHERE assignment = ? GROUP BY model_version, predicted, true_label",
                (assignment,),
            ).fetchall()
        )
        return [(str(r[0]), int(r[1]), int(r[2]), int(r[3])) for r in rows]

    def label_sequence(self) -> LabelSequence:
        connection = self._connection()
        rows = self._retry_while_locked(
            lambda: connection.execute(
                "SELECT model_version, predicted = true_label FROM feedback"
                " WHERE assignment = ? ORDER BY first_labelled_at, rowid",
                (ROUTED,),
            ).fetchall()
        )
        return LabelSequence([r[0] for r in rows], np.array([bool(r[1]) for r in rows]))

    def served_requests(
        self, since: float | None = None, assignment: str = ROUTED
    ) -> dict[str, int]:
        """Requests answered per version and so assigned, optionally only at or after ``since``."""
        connection = self._connection()
        rows = self._retry_while_locked(
            lambda: connection.execute(
                "SELECT model_version, COUNT(*) FROM predictions"
                " WHERE created_at >= ? AND assignment = ? GROUP BY model_version",
                (since if since is not None else float("-inf"), assignment),
            ).fetchall()
        )
        return {str(r[0]): int(r[1]) for r in rows}

    def recent_latencies(self, version: str, limit: int) -> NDArray[np.float64]:
        connection = self._connection()
        rows = self._retry_while_locked(
            lambda: connection.execute(
                "SELECT latency_ms FROM predictions WHERE model_version = ?"
                " ORDER BY id DESC LIMIT ?",
                (version, limit),
            ).fetchall()
        )
        return np.array([r[0] for r in rows], dtype=np.float64)

    def current_weights(self) -> tuple[dict[str, float], float] | None:
        connection = self._connection()
        row = self._retry_while_locked(
            lambda: connection.execute(
                "SELECT weights, changed_at FROM ab_weights WHERE id = 1"
            ).fetchone()
        )
        return None if row is None else (json.loads(row["weights"]), float(row["changed_at"]))

    def change_weights(
        self, old: dict[str, float], new: dict[str, float], actor: str, now: float
    ) -> None:
        """Persist the new split and its audit record in one transaction."""

        def write(connection: sqlite3.Connection) -> None:
            connection.execute(
                "INSERT INTO ab_weights (id, weights, changed_at) VALUES (1, ?, ?)"
                " ON CONFLICT (id) DO UPDATE SET weights = excluded.weights,"
                " changed_at = excluded.changed_at",
                (json.dumps(new), now),
            )
            connection.execute(
                "INSERT INTO weight_changes (changed_at, actor, old_weights, new_weights)"
                " VALUES (?, ?, ?, ?)",
                (now, actor, json.dumps(old), json.dumps(new)),
            )

        self._transaction(write)

    def weight_history(self, limit: int) -> list[dict[str, Any]]:
        connection = self._connection()
        rows = self._retry_while_locked(
            lambda: connection.execute(
                "SELECT id, changed_at, actor, old_weights, new_weights FROM weight_changes"
                " ORDER BY id DESC LIMIT ?",
                (limit,),
            ).fetchall()
        )
        return [
            {
                "id": r["id"],
                "changed_at": r["changed_at"],
                "actor": r["actor"],
                "old": json.loads(r["old_weights"]),
                "new": json.loads(r["new_weights"]),
            }
            for r in rows
        ]

    def record_shadow(
        self, request_id: str, primary: str, shadow: str, rows: int, agreed: int, now: float
    ) -> None:
        connection = self._connection()
        self._retry_while_locked(
            lambda: connection.execute(
                "INSERT INTO shadow_results (created_at, request_id, primary_version,"
                " shadow_version, rows, agreed) VALUES (?, ?, ?, ?, ?, ?)",
                (now, request_id, primary, shadow, rows, agreed),
            )
        )

    def shadow_agreement(self) -> dict[str, dict[str, float]]:
        """Per shadow version: rows scored, rows agreeing with the primary, agreement rate."""
        connection = self._connection()
        rows = self._retry_while_locked(
            lambda: connection.execute(
                "SELECT shadow_version, SUM(rows), SUM(agreed) FROM shadow_results"
                " GROUP BY shadow_version"
            ).fetchall()
        )
        return {
            str(r[0]): {"rows": int(r[1]), "agreed": int(r[2]), "agreement": r[2] / r[1]}
            for r in rows
            if r[1]
        }
