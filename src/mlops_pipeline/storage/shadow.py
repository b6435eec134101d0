"""Agreement between the serving and the shadow version. Owner of the table ``shadow_results``."""

from __future__ import annotations

from mlops_pipeline.storage.database import Database


class ShadowStore:
    def __init__(self, database: Database) -> None:
        self._db = database

    def record_shadow(
        self, request_id: str, primary: str, shadow: str, rows: int, agreed: int, now: float
    ) -> None:
        self._db.execute(
            "INSERT INTO shadow_results (created_at, request_id, primary_version,"
            " shadow_version, rows, agreed) VALUES (?, ?, ?, ?, ?, ?)",
            (now, request_id, primary, shadow, rows, agreed),
        )

    def prune(self, before: float, limit: int) -> int:
        return self._db.execute(
            "DELETE FROM shadow_results WHERE id IN (SELECT id FROM shadow_results"
            " WHERE created_at < ? ORDER BY created_at LIMIT ?)",
            (before, limit),
        )

    def shadow_agreement(self) -> dict[str, dict[str, float]]:
        """Per shadow version: rows scored, rows agreeing with the primary, agreement rate."""
        rows = self._db.fetchall(
            "SELECT shadow_version, SUM(rows), SUM(agreed) FROM shadow_results"
            " GROUP BY shadow_version"
        )
        return {
            str(r[0]): {"rows": int(r[1]), "agreed": int(r[2]), "agreement": int(r[2]) / int(r[1])}
            for r in rows
            if r[1]
        }
