"""PostgreSQL backend: psycopg 3 with one connection pool per process, opened after fork.

Single statements run in autocommit mode (one round trip, prepared by psycopg after a few uses).
The prediction log's commits follow ``log_durable``: ``synchronous_commit=off`` answers as soon as
the commit is in the server's memory (an application crash loses nothing; a database-server crash
may lose the last fraction of a second), ``on`` waits for the write-ahead log to reach disk.
Weights, labels and audit records always commit durably.
"""

from __future__ import annotations

import contextlib
import functools
import hashlib
import os
import threading
from collections.abc import Callable
from typing import Any, TypeVar

import psycopg
import psycopg_pool

from mlops_pipeline.storage.database import (
    DuplicateKey,
    Params,
    Row,
    StoreUnavailable,
    to_format_placeholders,
)

T = TypeVar("T")

# The server drops a vanished client's session (and its advisory lock) within ~10 s.
KEEPALIVE_OPTIONS = (
    "-c tcp_keepalives_idle=4 -c tcp_keepalives_interval=2 -c tcp_keepalives_count=3"
)


@functools.lru_cache(maxsize=256)
def _sql(statement: str) -> str:
    return to_format_placeholders(statement)


class _Cursor:
    def __init__(self, connection: psycopg.Connection[Any]) -> None:
        self._connection = connection

    def execute(self, sql: str, params: Params = ()) -> int:
        return int(self._connection.execute(_sql(sql), params).rowcount)

    def fetchone(self, sql: str, params: Params = ()) -> Row | None:
        row: Row | None = self._connection.execute(_sql(sql), params).fetchone()
        return row

    def fetchall(self, sql: str, params: Params = ()) -> list[Row]:
        return list(self._connection.execute(_sql(sql), params).fetchall())


def _translate(call: Callable[[], T]) -> T:
    try:
        return call()
    except psycopg.errors.UniqueViolation as exc:
        raise DuplicateKey(str(exc)) from exc
    except (psycopg.OperationalError, psycopg_pool.PoolTimeout) as exc:
        raise StoreUnavailable(str(exc).strip()) from exc


class PostgresDatabase:
    dialect = "postgresql"

    def __init__(self, url: str, log_durable: bool = False, pool_size: int = 4) -> None:
        self.url = url
        self._log_durable = log_durable
        self._pool_size = pool_size
        self._pool: psycopg_pool.ConnectionPool[Any] | None = None
        self._pid: int | None = None
        self._lock = threading.Lock()

    def _connections(self) -> psycopg_pool.ConnectionPool[Any]:
        pool, pid = self._pool, os.getpid()
        if pool is not None and self._pid == pid:
            return pool
        with self._lock:
            if self._pool is None or self._pid != pid:
                # A pool inherited across fork shares its sockets with the parent: never reuse it.
                self._pool = psycopg_pool.ConnectionPool(
                    self.url,
                    min_size=1,
                    max_size=self._pool_size,
                    kwargs={"autocommit": True},
                    configure=self._configure,
                    timeout=5.0,
                    open=True,
                    name=f"mlops-{pid}",
                )
                self._pid = pid
            return self._pool

    def _configure(self, connection: psycopg.Connection[Any]) -> None:
        setting = "on" if self._log_durable else "off"
        connection.execute(f"SET synchronous_commit = {setting}")

    def execute(self, sql: str, params: Params = ()) -> int:
        def run() -> int:
            with self._connections().connection() as connection:
                return int(connection.execute(_sql(sql), params).rowcount)

        return _translate(run)

    def fetchone(self, sql: str, params: Params = ()) -> Row | None:
        def run() -> Row | None:
            with self._connections().connection() as connection:
                row: Row | None = connection.execute(_sql(sql), params).fetchone()
                return row

        return _translate(run)

    def fetchall(self, sql: str, params: Params = ()) -> list[Row]:
        def run() -> list[Row]:
            with self._connections().connection() as connection:
                return list(connection.execute(_sql(sql), params).fetchall())

        return _translate(run)

    def transaction(self, body: Callable[[_Cursor], T], durable: bool = True) -> T:
        def run() -> T:
            with self._connections().connection() as connection, connection.transaction():
                if durable and not self._log_durable:
                    connection.execute("SET LOCAL synchronous_commit = on")
                return body(_Cursor(connection))

        return _translate(run)

    def size_bytes(self) -> int:
        row = self.fetchone(
            "SELECT COALESCE(SUM(pg_total_relation_size(c.oid)), 0) FROM pg_class c"
            " JOIN pg_namespace n ON n.oid = c.relnamespace"
            " WHERE c.relkind = 'r' AND n.nspname = current_schema()"
        )
        return int(row[0]) if row is not None else 0

    def lock(self, name: str) -> AdvisoryLock:
        return AdvisoryLock(self.url, name)

    def close(self) -> None:
        with self._lock:
            if self._pool is not None and self._pid == os.getpid():
                self._pool.close()
            self._pool = None


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
