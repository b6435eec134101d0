"""The prediction log's group commits: multi-row INSERTs prepared once per connection, run by libpq.

psycopg's ``Connection.execute`` spends ~120 µs of CPU per statement on this machine, most of
it in its Python layers (cursor, generators, adapters); libpq's ``PQexecPrepared`` on the same
connection (``psycopg.pq``, psycopg's documented low-level API) takes ~50 µs. A group commit's
leader runs one such statement per group while the other request threads wait for the worker's
interpreter lock, so this is time every waiting request gets back.

Values go as libpq parameters: ``bytes`` in binary (bytea), everything else as text; the server
infers each parameter's type from its column, as it does for psycopg's text parameters.
Failures are raised as psycopg's own exceptions (``psycopg.errors``), so callers map them the
same way as any other statement's.
"""

from __future__ import annotations

import numbers
import re
import threading
import weakref
from collections.abc import Sequence
from typing import Any

import psycopg
from psycopg import pq

from mlops_pipeline.storage.database import Params


def numbered(sql: str, rows: int) -> str:
    """``sql`` (one ``INSERT ... VALUES (?, ...)``) for ``rows`` rows, with ``$n`` placeholders."""
    # The list after VALUES, not after the last "(": a value may be an expression (CAST(? AS ..)).
    values = sql[sql.rindex(" VALUES ") + len(" VALUES ") :]
    statement = sql + f", {values}" * (rows - 1)
    counter = iter(range(1, statement.count("?") + 1))
    return re.sub(r"\?", lambda _: f"${next(counter)}", statement)


def encode(values: Sequence[Any]) -> tuple[list[bytes | None], list[int]]:
    """libpq parameter values and formats (0 text, 1 binary)."""
    encoded: list[bytes | None] = []
    formats: list[int] = []
    for value in values:
        if value is None:
            encoded.append(None)
            formats.append(0)
        elif isinstance(value, bytes):
            encoded.append(value)
            formats.append(1)
        elif isinstance(value, str):
            encoded.append(value.encode())
            formats.append(0)
        elif isinstance(value, bool):
            encoded.append(b"true" if value else b"false")
            formats.append(0)
        elif isinstance(value, (int, numbers.Integral)):  # int first: numpy's are only Integral
            encoded.append(str(int(value)).encode())
            formats.append(0)
        elif isinstance(value, (float, numbers.Real)):
            encoded.append(repr(float(value)).encode())  # the shortest text that reads back exact
            formats.append(0)
        else:
            raise TypeError(f"cannot send {type(value).__name__} to the prediction log")
    return encoded, formats


class PreparedInserts:
    """``run(connection, sql, rows)``: the rows in one prepared statement on ``connection``."""

    def __init__(self) -> None:
        # Per connection (statements live and die with it): (sql, rows) -> statement name.
        self._names: weakref.WeakKeyDictionary[psycopg.Connection[Any], dict[Any, bytes]] = (
            weakref.WeakKeyDictionary()
        )
        self._lock = threading.Lock()

    def run(self, connection: psycopg.Connection[Any], sql: str, rows: Sequence[Params]) -> None:
        pgconn = connection.pgconn
        with self._lock:
            names = self._names.setdefault(connection, {})
        name = names.get((sql, len(rows)))
        if name is None:
            name = f"mlops_log_{len(names)}".encode()
            self._check(connection, pgconn.prepare(name, numbered(sql, len(rows)).encode(), None))
            names[sql, len(rows)] = name
        values, formats = encode([value for row in rows for value in row])
        # A None value is SQL NULL, as in exec_params; exec_prepared's annotation omits it.
        self._check(connection, pgconn.exec_prepared(name, values, formats))  # type: ignore[arg-type]

    @staticmethod
    def _check(connection: psycopg.Connection[Any], result: pq.abc.PGresult) -> None:
        if result.status == pq.ExecStatus.COMMAND_OK:
            return
        if connection.pgconn.status != pq.ConnStatus.OK:
            message = (result.error_message or b"").decode(errors="replace").strip()
            raise psycopg.OperationalError(message or "the connection was lost")
        raise psycopg.errors.error_from_result(result, encoding="utf-8")
