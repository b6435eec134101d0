"""SQLite backend: one file shared by every worker; per-thread connections, WAL, quick retries."""

from __future__ import annotations

import contextlib
import fcntl
import os
import sqlite3
import threading
import time
from collections.abc import Callable
from pathlib import Path
from typing import TypeVar

from mlops_pipeline.storage.database import DuplicateKey, Params, Row, StoreUnavailable

T = TypeVar("T")


def sqlite_path(url: str) -> Path:
    return Path(url.removeprefix("sqlite:///")) if url.startswith("sqlite:///") else Path(url)


class _Cursor:
    def __init__(self, connection: sqlite3.Connection) -> None:
        self._connection = connection

    def execute(self, sql: str, params: Params = ()) -> int:
        return self._connection.execute(sql, params).rowcount

    def fetchone(self, sql: str, params: Params = ()) -> Row | None:
        row: Row | None = self._connection.execute(sql, params).fetchone()
        return row

    def fetchall(self, sql: str, params: Params = ()) -> list[Row]:
        return list(self._connection.execute(sql, params).fetchall())


class SQLiteDatabase:
    dialect = "sqlite"

    def __init__(self, url: str, busy_timeout_ms: int = 5_000) -> None:
        self.path = sqlite_path(url)
        self.url = f"sqlite:///{self.path}"
        self._busy_timeout_ms = busy_timeout_ms
        self._local = threading.local()
        self._connections: list[sqlite3.Connection] = []
        self._lock = threading.Lock()
        self.path.parent.mkdir(parents=True, exist_ok=True)

    def _connection(self) -> sqlite3.Connection:
        connection: sqlite3.Connection | None = getattr(self._local, "connection", None)
        if connection is None:
            # timeout=0: SQLite's own busy handler sleeps in whole milliseconds, which dominates
            # a sub-millisecond request when two workers collide; _retry retries far sooner.
            connection = sqlite3.connect(
                self.path, timeout=0, check_same_thread=False, isolation_level=None
            )
            # WAL lets every worker read while one writes. synchronous=NORMAL commits to the WAL
            # without fsync: a killed process loses nothing it committed; only power loss could.
            self._retry(lambda: connection.execute("PRAGMA journal_mode=WAL"))
            connection.execute("PRAGMA synchronous=NORMAL")
            self._local.connection = connection
            with self._lock:
                self._connections.append(connection)
        return connection

    def _retry(self, statement: Callable[[], T]) -> T:
        deadline = time.monotonic() + self._busy_timeout_ms / 1000
        pause = 20e-6
        while True:
            try:
                return statement()
            except sqlite3.OperationalError as exc:
                if "locked" not in str(exc) and "busy" not in str(exc):
                    raise
                if time.monotonic() > deadline:
                    raise
            time.sleep(pause)
            pause = min(pause * 2, 2e-3)

    def _guarded(self, statement: Callable[[], T]) -> T:
        try:
            return self._retry(statement)
        except sqlite3.IntegrityError as exc:
            raise DuplicateKey(str(exc)) from exc
        except (sqlite3.OperationalError, sqlite3.DatabaseError) as exc:
            raise StoreUnavailable(str(exc)) from exc

    def execute(self, sql: str, params: Params = ()) -> int:
        connection = self._connection()
        # One statement in autocommit mode is its own transaction, committed when it returns.
        return self._guarded(lambda: connection.execute(sql, params).rowcount)

    def append(self, sql: str, params: Params) -> None:
        # A WAL commit with synchronous=NORMAL waits for no flush: nothing to group.
        self.execute(sql, params)

    def fetchone(self, sql: str, params: Params = ()) -> Row | None:
        connection = self._connection()
        row: Row | None = self._guarded(lambda: connection.execute(sql, params).fetchone())
        return row

    def fetchall(self, sql: str, params: Params = ()) -> list[Row]:
        connection = self._connection()
        return self._guarded(lambda: list(connection.execute(sql, params).fetchall()))

    def transaction(self, body: Callable[[_Cursor], T], durable: bool = True) -> T:
        connection = self._connection()
        self._guarded(lambda: connection.execute("BEGIN IMMEDIATE"))
        try:
            result = body(_Cursor(connection))
            connection.execute("COMMIT")
        except BaseException as exc:
            # Never leave a transaction open: it would hold the write lock against every worker.
            with contextlib.suppress(sqlite3.Error):
                connection.execute("ROLLBACK")
            if isinstance(exc, sqlite3.IntegrityError):
                raise DuplicateKey(str(exc)) from exc
            if isinstance(exc, sqlite3.OperationalError | sqlite3.DatabaseError):
                raise StoreUnavailable(str(exc)) from exc
            raise
        return result

    def size_bytes(self) -> int:
        (pages, free, page_size), *_ = self.fetchall(
            "SELECT * FROM pragma_page_count(), pragma_freelist_count(), pragma_page_size()"
        )
        wal = Path(f"{self.path}-wal")
        in_use = (int(pages) - int(free)) * int(page_size)
        return in_use + (wal.stat().st_size if wal.exists() else 0)

    def lock(self, name: str) -> FileLock:
        return FileLock(self.path.with_name(f"{self.path.name}.{name}.lock"))

    def close(self) -> None:
        with self._lock:
            for connection in self._connections:
                connection.close()
            self._connections.clear()
        self._local = threading.local()


class FileLock:
    """flock(2) on a file beside the database: the kernel releases it when the holder dies."""

    def __init__(self, path: Path) -> None:
        self.path = path
        self._fd: int | None = None

    def try_acquire(self) -> bool:
        if self._fd is not None:
            return True
        fd = os.open(self.path, os.O_RDWR | os.O_CREAT, 0o600)
        try:
            fcntl.flock(fd, fcntl.LOCK_EX | fcntl.LOCK_NB)
        except BlockingIOError:
            os.close(fd)
            return False
        self._fd = fd
        return True

    def held(self) -> bool:
        return self._fd is not None

    def release(self) -> None:
        if self._fd is not None:
            with contextlib.suppress(OSError):
                fcntl.flock(self._fd, fcntl.LOCK_UN)
            os.close(self._fd)
            self._fd = None
