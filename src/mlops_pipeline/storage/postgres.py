"""PostgreSQL backend: psycopg 3 with one connection pool per process, opened after fork.

Single statements run in autocommit mode (one round trip, prepared by psycopg after a few uses);
the prediction log's inserts skip psycopg's Python layers (storage/prepared_insert.py).
The prediction log's commits follow ``log_durable``: ``synchronous_commit=on`` (the default)
answers only once the commit is on the server's disk, and concurrent appends of one process share
that commit (storage/group_commit.py); ``off`` answers as soon as the commit is in the server's
memory (a database-server crash may lose the last fraction of a second). Weights, labels and
audit records always commit durably. Every call is bounded (storage/database.py ``Timeouts``),
and while the server is lost calls fail at once (storage/outage.py).
"""

from __future__ import annotations

import functools
import os
import threading
from collections.abc import Callable, Sequence
from typing import Any, TypeVar

import psycopg
import psycopg_pool

from mlops_pipeline.storage.advisory_lock import AdvisoryLock
from mlops_pipeline.storage.database import (
    DuplicateKey,
    Params,
    Row,
    StoreUnavailable,
    Timeouts,
    to_format_placeholders,
)
from mlops_pipeline.storage.group_commit import GroupCommit
from mlops_pipeline.storage.outage import Breaker
from mlops_pipeline.storage.prepared_insert import PreparedInserts

T = TypeVar("T")


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


def _server_lost(exc: Exception) -> bool:
    """A failure that says the server is unreachable, not that it refused one statement.

    Connection errors carry no SQLSTATE (refused, reset, closed) or class 08; 57P01-57P03 are a
    shutting-down or starting server. A statement or lock timeout (57014, 55P03) came from a
    live server: those fail the one call only.
    """
    if isinstance(exc, psycopg_pool.PoolTimeout):
        return False  # this process's connections are busy (or slow), the server may be fine
    state = getattr(exc, "sqlstate", None)
    return state is None or state.startswith("08") or state in {"57P01", "57P02", "57P03"}


class PostgresDatabase:
    dialect = "postgresql"

    def __init__(
        self,
        url: str,
        log_durable: bool = True,
        pool_size: int = 4,
        timeouts: Timeouts | None = None,
    ) -> None:
        self.url = url
        self.log_durable = log_durable
        self._pool_size = pool_size
        self._timeouts = timeouts or Timeouts()
        self._pool: psycopg_pool.ConnectionPool[Any] | None = None
        self._pid: int | None = None
        self._lock = threading.Lock()
        self._breaker = Breaker(self._timeouts.retry_seconds)
        self._groups: dict[str, GroupCommit] = {}
        self._inserts = PreparedInserts()

    def _connect_options(self) -> dict[str, Any]:
        """libpq settings of every connection: bounded connects, statements and lock waits.

        ``tcp_user_timeout`` and the keepalives end a connection to a host that vanished (no
        reset ever comes) instead of leaving a request waiting for TCP's own ~15 minutes.
        """
        limits = self._timeouts
        return {
            "connect_timeout": max(1, round(limits.connect_seconds)),
            "tcp_user_timeout": int(limits.connect_seconds * 1000),
            "keepalives": 1,
            "keepalives_idle": 4,
            "keepalives_interval": 2,
            "keepalives_count": 3,
            "options": f"-c statement_timeout={int(limits.statement_seconds * 1000)}"
            f" -c lock_timeout={int(limits.lock_seconds * 1000)}",
        }

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
                    kwargs={"autocommit": True, **self._connect_options()},
                    configure=self._configure,
                    timeout=self._timeouts.pool_seconds,
                    open=True,
                    name=f"mlops-{pid}",
                )
                self._pid = pid
            return self._pool

    def _configure(self, connection: psycopg.Connection[Any]) -> None:
        setting = "on" if self.log_durable else "off"
        connection.execute(f"SET synchronous_commit = {setting}")

    def _guarded(self, call: Callable[[psycopg_pool.ConnectionPool[Any]], T]) -> T:
        """``call`` with this process's pool; errors as the storage layer's exceptions."""
        if self._breaker.open:
            self._probe()
        pool = self._connections()
        try:
            result = call(pool)
        except psycopg.errors.UniqueViolation as exc:
            raise DuplicateKey(str(exc)) from exc
        except (psycopg.OperationalError, psycopg_pool.PoolTimeout) as exc:
            if _server_lost(exc):
                self._lost(pool, str(exc).strip())
            raise StoreUnavailable(str(exc).strip()) from exc
        self._breaker.succeeded()
        return result

    def _probe(self) -> None:
        """While the server is lost: refuse at once, except one direct connect per interval."""
        breaker = self._breaker
        if not breaker.admit():
            raise StoreUnavailable(f"the database is unreachable: {breaker.reason}")
        try:
            psycopg.connect(self.url, autocommit=True, **self._connect_options()).close()
        except Exception as exc:
            breaker.failed(str(exc).strip())
            raise StoreUnavailable(f"the database is unreachable: {breaker.reason}") from exc
        breaker.succeeded()

    def _lost(self, pool: psycopg_pool.ConnectionPool[Any], reason: str) -> None:
        """Open the breaker and drop the pool: its connections died with the server, and its own
        reconnection backs off to half a minute; a fresh pool connects as soon as a probe can.

        One dead connection (killed by an administrator, reaped by a proxy) is not a lost
        server: a fresh connection is tried first, and if it gets through nothing opens (the
        pool discards the broken connection when it comes back)."""
        try:
            psycopg.connect(self.url, autocommit=True, **self._connect_options()).close()
            return
        except Exception:  # the server is really gone: fail fast from now on
            pass
        self._breaker.failed(reason)
        with self._lock:
            if self._pool is not pool:
                return
            self._pool = None
        threading.Thread(target=pool.close, kwargs={"timeout": 1.0}, daemon=True).start()

    def execute(self, sql: str, params: Params = ()) -> int:
        def run(pool: psycopg_pool.ConnectionPool[Any]) -> int:
            with pool.connection() as connection:
                return int(connection.execute(_sql(sql), params).rowcount)

        return self._guarded(run)

    def append(self, sql: str, params: Params) -> None:
        """One ``INSERT ... VALUES (...)``; durable, through group commit: concurrent callers of
        this process share one statement and one flush (see storage/group_commit.py)."""
        if self.log_durable:
            self.group(sql).append(params)
        else:
            self.insert_rows(sql, [params])

    def group(self, sql: str) -> GroupCommit:
        """The group commit of one ``INSERT`` statement, made on first use."""
        group = self._groups.get(sql)
        if group is None:
            with self._lock:
                group = self._groups.setdefault(
                    sql, GroupCommit(lambda rows: self.insert_rows(sql, rows))
                )
        return group

    def insert_rows(self, sql: str, rows: Sequence[Params]) -> None:
        """``sql`` (one ``INSERT ... VALUES (?, ...)``) for all ``rows`` in one statement,
        prepared once per connection and run by libpq (storage/prepared_insert.py)."""

        def run(pool: psycopg_pool.ConnectionPool[Any]) -> None:
            with pool.connection() as connection:
                self._inserts.run(connection, sql, rows)

        self._guarded(run)

    def fetchone(self, sql: str, params: Params = ()) -> Row | None:
        def run(pool: psycopg_pool.ConnectionPool[Any]) -> Row | None:
            with pool.connection() as connection:
                row: Row | None = connection.execute(_sql(sql), params).fetchone()
                return row

        return self._guarded(run)

    def fetchall(self, sql: str, params: Params = ()) -> list[Row]:
        def run(pool: psycopg_pool.ConnectionPool[Any]) -> list[Row]:
            with pool.connection() as connection:
                return list(connection.execute(_sql(sql), params).fetchall())

        return self._guarded(run)

    def transaction(self, body: Callable[[_Cursor], T], durable: bool = True) -> T:
        def run(pool: psycopg_pool.ConnectionPool[Any]) -> T:
            with pool.connection() as connection, connection.transaction():
                if durable and not self.log_durable:
                    connection.execute("SET LOCAL synchronous_commit = on")
                return body(_Cursor(connection))

        return self._guarded(run)

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
