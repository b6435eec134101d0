"""The monitor's newest reports (drift, experiment), read by every replica. Owner of ``reports``."""

from __future__ import annotations

from mlops_pipeline.storage.database import Database
from mlops_pipeline.storage.records import StoredReport


class ReportStore:
    def __init__(self, database: Database) -> None:
        self._db = database

    def save(self, name: str, body: str, computed_at: float, written_by: str) -> None:
        self._db.execute(
            "INSERT INTO reports (name, computed_at, body, written_by) VALUES (?, ?, ?, ?)"
            " ON CONFLICT (name) DO UPDATE SET computed_at = excluded.computed_at,"
            " body = excluded.body, written_by = excluded.written_by",
            (name, computed_at, body, written_by),
        )

    def load(self, name: str) -> StoredReport | None:
        row = self._db.fetchone(
            "SELECT name, computed_at, body, written_by FROM reports WHERE name = ?", (name,)
        )
        return None if row is None else StoredReport(row[0], float(row[1]), row[2], row[3])
