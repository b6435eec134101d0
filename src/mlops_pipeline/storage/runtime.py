"""Serving settings changed at run time. Owner of the table ``runtime_settings``.

A stored value overrides the process's environment for that setting on every replica (today:
``shadow_version``, where JSON null switches shadow scoring off).
"""

from __future__ import annotations

import json
from typing import Any

from mlops_pipeline.storage.database import Database

UNSET = object()


class RuntimeSettings:
    def __init__(self, database: Database) -> None:
        self._db = database

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
