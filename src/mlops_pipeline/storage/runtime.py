"""Serving settings changed at run time. Owner of the table ``runtime_settings``.

A stored value overrides the process's environment for that setting on every replica (today:
``shadow_version``, where JSON null switches shadow scoring off).
"""

from __future__ import annotations

import json
from typing import Any

from mlops_pipeline.storage.database import Database
from mlops_pipeline.storage.readiness import DatabaseCheck

UNSET = object()


class RuntimeSettings:
    def __init__(self, database: Database) -> None:
        self._db = database
        self._check = DatabaseCheck(database)

    def reachable(self) -> bool:
        """Whether the database these settings live in answers (readiness); one query a second
        at most, however often it is asked."""
        return self._check.answers()

    def get(self, name: str) -> Any:
        """The stored value, or UNSET when nobody set it at run time."""
        row = self._db.fetchone("SELECT value FROM runtime_settings WHERE name = ?", (name,))
        return UNSET if row is None else json.loads(row[0])

    def set(self, name: str, value: Any, actor: str, now: float) -> None:
        self._db.execute(
            "INSERT INTO runtime_settings (name, value, changed_at, actor) VALUES (?, ?, ?, ?)"
            " ON CONFLICT (name) DO UPDATE SET value = excluded.value,"
            " changed_at = excluded.changed_at, actor = excluded.actor",
            (name, json.dumps(value), now, actor),
        )
