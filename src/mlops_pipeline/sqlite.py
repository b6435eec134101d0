"""One SQLite file shared by every gunicorn worker: per-thread connections, WAL, quick retries."""

from __future__ import annotations

import sqlite3
import threading
import time
from collections.abc import Callable
from pathlib import Path
from typing import TypeVar

T = TypeVar("T")


class SQLiteDatabase:
    """Base of the stores: applies ``schema`` once and hands out one connection per thread."""

    def __init__(self, path: Path, schema: str, busy_timeout_ms: int = 5_000) -> None:
        self.path = path
        self._busy_timeout_ms = busy_timeout_ms
        self._local = threading.local()
        self._connections: list[sqlite3.Connection] = []
        self._lock = threading.Lock()
        path.parent.mkdir(parents=True, exist_ok=True)
        connection = self._connection()
        self._retry_while_locked(lambda: connection.executescript(schema))

    def _connection(self) -> sqlite3.Connection:
        connection: sqlite3.Connection | None = getattr(self._local, "connection", None)
        if connection is None:
            # timeout=0: SQLite's own busy handler sleeps in whole milliseconds, which dominates
            # a sub-millisecond request when two workers collide; _retry_while_locked retries
            # far sooner.
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

    def _add_column(self, table: str, column: str, definition: str) -> None:
        """Bring a file written by an older release up to this schema (idempotent).

        ``CREATE TABLE IF NOT EXISTS`` keeps an old table as it was, so new columns are added here.
        """
        connection = self._connection()
        columns = {row[1] for row in connection.execute(f"PRAGMA table_info({table})")}
        if column in columns:
            return
        try:
            self._retry_while_locked(
                lambda: connection.execute(f"ALTER TABLE {table} ADD COLUMN {column} {definition}")
            )
        except sqlite3.OperationalError as exc:
            if "duplicate column" not in str(exc):  # another worker added it first
                raise

    def _transaction(self, body: Callable[[sqlite3.Connection], T]) -> T:
        """Run ``body`` inside BEGIN IMMEDIATE ... COMMIT (rolled back if it raises)."""
        connection = self._connection()
        self._retry_while_locked(lambda: connection.execute("BEGIN IMMEDIATE"))
        try:
            result = body(connection)
        except BaseException:
            connection.execute("ROLLBACK")
            raise
        self._retry_while_locked(lambda: connection.execute("COMMIT"))
        return result

    def close(self) -> None:
        with self._lock:
            for connection in self._connections:
                connection.close()
            self._connections.clear()
        self._local = threading.local()
