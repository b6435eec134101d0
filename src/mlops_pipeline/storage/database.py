"""The two database backends behind one small interface: SQLite (embedded) and PostgreSQL.

Stores write their SQL once, with ``?`` placeholders and standard SQL that both engines accept
(``ON CONFLICT ... DO UPDATE``, ``COALESCE``); rows come back as tuples. What differs between the
engines (connections, locking, retries, durability, size on disk) lives here and nowhere else.
"""

from __future__ import annotations

import re
from collections.abc import Callable, Iterator, Sequence
from dataclasses import dataclass
from typing import Any, Protocol, TypeVar

# Defined outside storage so that callers mapping it to an answer (the HTTP and gRPC layers)
# need not import the storage package; re-exported here for the backends that raise it.
from mlops_pipeline.errors import StoreUnavailable as StoreUnavailable

T = TypeVar("T")
Row = tuple[Any, ...]
Params = Sequence[Any]


class DuplicateKey(RuntimeError):
    """A row with the same unique key exists (a repeated request id)."""


class Cursor(Protocol):
    """What a transaction body may do: statements inside one transaction."""

    def execute(self, sql: str, params: Params = ()) -> int: ...

    def fetchone(self, sql: str, params: Params = ()) -> Row | None: ...

    def fetchall(self, sql: str, params: Params = ()) -> list[Row]: ...


class Database(Protocol):
    """One database, shared by every store of a process; safe to use from several threads."""

    dialect: str  # "sqlite" or "postgresql"
    url: str

    def execute(self, sql: str, params: Params = ()) -> int:
        """Run one statement in its own transaction; return the affected row count."""

    def append(self, sql: str, params: Params) -> None:
        """One prediction-log row (``sql`` one ``INSERT ... VALUES``), committed when it returns
        with the configured durability; backends whose commits wait for a disk flush let
        concurrent appends share it (group commit)."""

    def fetchone(self, sql: str, params: Params = ()) -> Row | None: ...

    def fetchall(self, sql: str, params: Params = ()) -> list[Row]: ...

    def transaction(self, body: Callable[[Cursor], T], durable: bool = True) -> T:
        """Run ``body`` in one transaction, committed when it returns, rolled back if it raises.

        ``durable`` transactions wait for the server to flush its log (weights, labels, audit);
        the prediction log's single-statement writes follow the configured durability.
        """

    def size_bytes(self) -> int:
        """Bytes the database's rows occupy (what a full disk is made of)."""

    def lock(self, name: str) -> Lock:
        """An exclusive lock across processes and hosts, released when its holder dies."""

    def close(self) -> None: ...


class Lock(Protocol):
    """Leader election: a PostgreSQL advisory lock on its own connection, or a file lock."""

    def try_acquire(self) -> bool:
        """Take the lock if nobody holds it; True while this holder has it."""

    def held(self) -> bool:
        """Whether this holder still has the lock (its connection or file is alive)."""

    def release(self) -> None: ...


_PLACEHOLDER = re.compile(r"\?")


def to_format_placeholders(sql: str) -> str:
    """``?`` placeholders to psycopg's ``%s`` (no statement here contains a literal ``?``)."""
    return _PLACEHOLDER.sub("%s", sql.replace("%", "%%"))


@dataclass(frozen=True)
class Timeouts:
    """How long a call may wait for a database server before it fails (PostgreSQL).

    Short on purpose: a request that touches a dead or stuck database should get its 503 in
    seconds, not hold a worker (and every request queued behind it) for the server's sake.
    """

    connect_seconds: float = 2.0  # connect_timeout, and TCP's limit for unacknowledged data
    statement_seconds: float = 5.0  # statement_timeout: the server gives up a slow statement
    lock_seconds: float = 2.0  # lock_timeout: a row or table lock held by someone else
    pool_seconds: float = 2.0  # waiting for a free connection of this process's pool
    retry_seconds: float = 0.5  # after a lost server, one probe per interval; others fail at once


def redact(url: str) -> str:
    """The URL without its password, for messages and logs."""
    return re.sub(r"(://[^:/@]+):[^@]*@", r"\1:***@", url)


def iter_pages(fetch: Callable[[int], list[Row]], page_size: int) -> Iterator[Row]:
    """Rows of a keyset-paginated query, newest first; ``fetch(before_id)`` returns one page.

    Each page is its own short query, so no reader holds a cursor (or a snapshot) open.
    """
    before = 2**63 - 1  # above every id
    while True:
        rows = fetch(before)
        yield from rows
        if len(rows) < page_size:
            return
        before = rows[-1][0]
