"""Ground-truth labels joined to logged predictions. Owner of the table ``feedback``."""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from typing import Any, final

import numpy as np
from numpy.typing import NDArray

from mlops_pipeline.storage import typed_rows
from mlops_pipeline.storage.database import Cursor, Database
from mlops_pipeline.storage.records import (
    FLOAT,
    ROUTED,
    LabelledRows,
    LabelSequence,
    LoggedPrediction,
)


@dataclass(frozen=True)
class Label:
    request_id: str
    row_index: int
    logged: LoggedPrediction
    label: int  # class index


@final  # never also a LabelledRows: retraining/dataset.py tells the two apart by isinstance
@dataclass(frozen=True)
class TypedLabelledRows:
    """LabelledRows for a typed schema: each row an object by column name (None if missing)."""

    rows: list[dict[str, Any]]
    labels: NDArray[np.int64]
    created_at: NDArray[np.float64]
    labelled_at: NDArray[np.float64]


LABELLED = (
    "SELECT {features}, p.n_rows, f.row_index, f.true_label, p.created_at,"
    " f.first_labelled_at FROM feedback f JOIN predictions p ON p.request_id = f.request_id"
    " WHERE f.assignment = ? AND p.created_at >= ?{where}"
    " ORDER BY p.created_at DESC, f.request_id DESC, f.row_index DESC LIMIT ?"
)


class LabelStore:
    def __init__(self, database: Database) -> None:
        self._db = database

    def save_label(
        self, request_id: str, row_index: int, logged: LoggedPrediction, label: int, now: float
    ) -> bool:
        """Store or replace the label; True when the prediction had none before."""
        return self.save_labels([Label(request_id, row_index, logged, label)], now)[0]

    def save_labels(self, labels: Sequence[Label], now: float) -> list[bool]:
        """Store or replace every label in one transaction (all or none); True for each
        prediction that had no label before."""

        def upsert_all(cursor: Cursor) -> list[bool]:
            return [upsert(cursor, x.request_id, x.row_index, x.logged, x.label) for x in labels]

        def upsert(
            cursor: Cursor, request_id: str, row_index: int, logged: LoggedPrediction, label: int
        ) -> bool:
            existing = cursor.fetchone(
                "SELECT 1 FROM feedback WHERE request_id = ? AND row_index = ?",
                (request_id, row_index),
            )
            cursor.execute(
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

        return self._db.transaction(upsert_all)

    def label_counts(self, assignment: str = ROUTED) -> list[tuple[str, int, int, int]]:
        """(version, predicted, true label, count) over labelled predictions so assigned."""
        rows = self._db.fetchall(
            "SELECT model_version, predicted, true_label, COUNT(*) FROM feedback"
            " WHERE assignment = ? GROUP BY model_version, predicted, true_label",
            (assignment,),
        )
        return [(str(r[0]), int(r[1]), int(r[2]), int(r[3])) for r in rows]

    def prune(self, before: float, limit: int) -> int:
        """Delete at most ``limit`` labels first given before ``before`` (past retention)."""
        return self._db.execute(
            "DELETE FROM feedback WHERE (request_id, row_index) IN (SELECT request_id, row_index"
            " FROM feedback WHERE first_labelled_at < ? ORDER BY first_labelled_at LIMIT ?)",
            (before, limit),
        )

    def label_sequence(self) -> LabelSequence:
        """Routed labels in order of arrival: what the sequential test replays."""
        rows = self._db.fetchall(
            "SELECT model_version, predicted = true_label FROM feedback WHERE assignment = ?"
            " ORDER BY first_labelled_at, request_id, row_index",
            (ROUTED,),
        )
        return LabelSequence([r[0] for r in rows], np.array([bool(r[1]) for r in rows]))

    def labels_by_epoch(
        self, after_id: int, first_weights_version: int, since: float
    ) -> dict[tuple[int, str], tuple[int, int]]:
        """(labelled, correct) per (weights version, model version) of routed requests logged
        after ``after_id`` and first labelled at or after ``since`` (both bound the scan)."""
        rows = self._db.fetchall(
            "SELECT p.weights_version, f.model_version, COUNT(*),"
            " SUM(CASE WHEN f.predicted = f.true_label THEN 1 ELSE 0 END)"
            " FROM feedback f JOIN predictions p ON p.request_id = f.request_id"
            " WHERE f.first_labelled_at >= ? AND f.assignment = ? AND p.id > ?"
            " AND p.weights_version >= ? GROUP BY p.weights_version, f.model_version",
            (since, ROUTED, after_id, first_weights_version),
        )
        return {(int(r[0]), str(r[1])): (int(r[2]), int(r[3])) for r in rows}

    def labelled_rows(self, since: float, limit: int) -> LabelledRows:
        """Routed predictions answered at or after ``since`` with their true labels: the newest
        ``limit``, returned oldest first. Pinned requests are left out: the caller chose the
        version, so those rows are not a sample of the traffic the models serve."""
        rows = self._db.fetchall(
            LABELLED.format(features="p.features", where=""), (ROUTED, since, limit)
        )
        rows.reverse()
        if not rows:
            empty = np.empty(0, dtype=np.float64)
            return LabelledRows(np.empty((0, 0)), np.empty(0, dtype=np.int64), empty, empty)
        features = np.vstack(
            [np.frombuffer(r[0], dtype=FLOAT).reshape(int(r[1]), -1)[int(r[2])] for r in rows]
        )
        return LabelledRows(
            features,
            np.array([int(r[3]) for r in rows], dtype=np.int64),
            np.array([float(r[4]) for r in rows], dtype=np.float64),
            np.array([float(r[5]) for r in rows], dtype=np.float64),
        )

    def labelled_typed_rows(self, since: float, limit: int) -> TypedLabelledRows:
        """labelled_rows for a typed schema: the rows from the log's JSON column. A request
        logged without typed rows (before migration 0007, or by a float-tensor model) has no
        columns to learn from and is left out."""
        rows = self._db.fetchall(
            LABELLED.format(features="p.typed_features", where=" AND p.typed_features IS NOT NULL"),
            (ROUTED, since, limit),
        )
        rows.reverse()
        return TypedLabelledRows(
            [typed_rows.decode(r[0])[int(r[2])] for r in rows],
            np.array([int(r[3]) for r in rows], dtype=np.int64),
            np.array([float(r[4]) for r in rows], dtype=np.float64),
            np.array([float(r[5]) for r in rows], dtype=np.float64),
        )
