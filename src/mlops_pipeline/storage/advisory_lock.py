"""The leader lock on PostgreSQL: a session-level advisory lock on a connection of its own.

Apart from the pool (postgres.py): the lock lives exactly as long as its connection, which the
keepalives below end when the holder's host vanishes, so a standby can take over.
"""

from __future__ import annotations

import contextlib
import hashlib
from typing import Any

import psycopg

# The server drops a vanished client's session (and its advisory lock) within ~10 s.
KEEPALIVE_OPTIONS = (
    "-c tcp_keepalives_idle=4 -c tcp_keepalives_interval=2 -c tcp_keepalives_count=3"
)


class AdvisoryLock:
    """``pg_try_advisory_lock`` on a connection of its own; the server frees it when it closes."""

    def __init__(self, url: str, name: str) -> None:
        self._url = url
        digest = hashlib.sha256(f"mlops:{name}".encode()).digest()
        self.key = int.from_bytes(digest[:8], "big", signed=True)
        self._connection: psycopg.Connection[Any] | None = None
        self._held = False

    def try_acquire(self) -> bool:
        if self._held and self.held():
            return True
        try:
            if self._connection is None or self._connection.closed:
                self._connection = psycopg.connect(
                    self._url, autocommit=True, connect_timeout=5, options=KEEPALIVE_OPTIONS
                )
            row = self._connection.execute(
                "SELECT pg_try_advisory_lock(%s)", (self.key,)
            ).fetchone()
        except psycopg.OperationalError:
            self._drop()
            return False
        self._held = bool(row and row[0])
        return self._held

    def held(self) -> bool:
        if not self._held or self._connection is None:
            return False
        try:
            self._connection.execute("SELECT 1")
        except psycopg.OperationalError:
            self._drop()
        return self._held

    def _drop(self) -> None:
        self._held = False
        if self._connection is not None:
            self._connection.close()
        self._connection = None

    def release(self) -> None:
        if self._connection is not None and self._held:
            with contextlib.suppress(psycopg.OperationalError):
                self._connection.execute("SELECT pg_advisory_unlock(%s)", (self.key,))
        self._drop()
