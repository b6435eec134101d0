"""Requests a model version failed to answer. Owner of the table ``inference_failures``.

A rollout's error-rate guardrail divides these by the version's answered requests.
"""

from __future__ import annotations

from mlops_pipeline.storage.database import Database
from mlops_pipeline.storage.records import ROUTED


class FailureStore:
    def __init__(self, database: Database) -> None:
        self._db = database

    def record(
        self, version: str, weights_version: int | None, assignment: str, code: str, now: float
    ) -> None:
        self._db.execute(
            "INSERT INTO inference_failures (created_at, model_version, weights_version,"
            " assignment, code) VALUES (?, ?, ?, ?, ?)",
            (now, version, weights_version, assignment, code),
        )

    def by_epoch(self, first_weights_version: int) -> dict[tuple[int, str], int]:
        """Routed failures per (weights version, model version) from ``first_weights_version``
        on: the same traffic as the routed requests they are divided by."""
        rows = self._db.fetchall(
            "SELECT weights_version, model_version, COUNT(*) FROM inference_failures"
            " WHERE weights_version >= ? AND assignment = ?"
            " GROUP BY weights_version, model_version",
            (first_weights_version, ROUTED),
        )
        return {(int(r[0]), str(r[1])): int(r[2]) for r in rows}

    def prune(self, before: float, limit: int) -> int:
        return self._db.execute(
            "DELETE FROM inference_failures WHERE id IN (SELECT id FROM inference_failures"
            " WHERE created_at < ? ORDER BY id LIMIT ?)",
            (before, limit),
        )
