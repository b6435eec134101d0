"""The prediction log's libpq path: statements and parameters worked out by hand, then the same
rows through a real PostgreSQL server, read back exactly, with its failures mapped as psycopg's."""

from __future__ import annotations

import math
import uuid

import numpy as np
import psycopg
import pytest

from mlops_pipeline.storage import DuplicateKey, StoreUnavailable
from mlops_pipeline.storage.postgres import PostgresDatabase
from mlops_pipeline.storage.predictions import INSERT, INSERT_TYPED
from mlops_pipeline.storage.prepared_insert import encode, numbered
from mlops_pipeline.storage.schema import upgrade


def test_numbered_repeats_the_values_list_once_per_row_with_dollar_placeholders() -> None:
    sql = "INSERT INTO t (a, b) VALUES (?, CAST(? AS JSONB))"
    assert numbered(sql, 1) == "INSERT INTO t (a, b) VALUES ($1, CAST($2 AS JSONB))"
    assert numbered(sql, 3) == (
        "INSERT INTO t (a, b) VALUES ($1, CAST($2 AS JSONB)),"
        " ($3, CAST($4 AS JSONB)), ($5, CAST($6 AS JSONB))"
    )


def test_encode_sends_bytes_in_binary_and_everything_else_as_exact_text() -> None:
    values, formats = encode(
        [None, b"\x00\xff", "é", True, False, 7, 0.1, np.float64(1 / 3), np.int64(-2), 1e300]
    )
    assert values == [
        None, b"\x00\xff", "é".encode(), b"true", b"false", b"7", b"0.1",
        b"0.3333333333333333", b"-2", b"1e+300",
    ]  # fmt: skip
    assert formats == [0, 1, 0, 0, 0, 0, 0, 0, 0, 0]
    assert float(values[7]) == 1 / 3  # type: ignore[arg-type]  # round-trips bit for bit


def test_encode_refuses_a_value_it_cannot_send() -> None:
    with pytest.raises(TypeError, match="list"):
        encode([[1, 2]])


@pytest.fixture
def log_database(postgres_database: str) -> PostgresDatabase:
    upgrade(postgres_database)
    return PostgresDatabase(postgres_database, log_durable=False)


def params(request_id: str, created_at: float, client_id: str | None) -> tuple[object, ...]:
    return (
        request_id, created_at, "v1", "ü-ser", 1, np.array([5.1, 3.5]).tobytes(),
        np.array([2], dtype=np.int64).tobytes(), np.array([0.25, 0.75]).tobytes(),
        math.pi, "routed", 3, client_id,
    )  # fmt: skip


def stored(url: str) -> dict[str, tuple[object, ...]]:
    with psycopg.connect(url) as connection:
        rows = connection.execute(
            "SELECT request_id, created_at, model_version, user_id, n_rows, features,"
            " predictions, probabilities, latency_ms, assignment, weights_version, client_id,"
            " typed_features FROM predictions"
        ).fetchall()
    return {row[0]: row for row in rows}


def test_groups_of_every_size_store_each_value_exactly(log_database: PostgresDatabase) -> None:
    created = [1764667357.123456789 + index / 7 for index in range(4)]
    ids = [uuid.uuid4().hex for _ in created]
    clients = [None if index % 2 else "team-a" for index in range(4)]
    sent = [params(*values) for values in zip(ids, created, clients, strict=True)]
    log_database.insert_rows(INSERT, sent[:1])
    log_database.insert_rows(INSERT, sent[1:])
    log_database.close()
    rows = stored(log_database.url)
    for row in sent:
        got = rows[str(row[0])]
        assert got[:12] == row  # floats bit for bit, bytea byte for byte, NULL as None
        assert got[12] is None


def test_typed_rows_of_one_group_go_to_the_jsonb_column(log_database: PostgresDatabase) -> None:
    # Two rows in one statement: the values list ends in CAST(? AS JSONB), whose "(" once cut
    # the repeated list short (a syntax error for every typed group of more than one row).
    sql = INSERT_TYPED.format(json="CAST(? AS JSONB)")
    rows = [
        (*params(name, 1.5, None)[:5], b"", *params(name, 1.5, None)[6:], text)
        for name, text in [("a", '[{"island": "Biscoe", "mass": null}]'), ("b", "[{}]")]
    ]
    log_database.insert_rows(sql, rows)
    log_database.close()
    logged = stored(log_database.url)
    assert logged["a"][12] == [{"island": "Biscoe", "mass": None}]
    assert logged["b"][12] == [{}]


def test_a_repeated_request_id_is_a_duplicate_and_the_connection_stays_usable(
    log_database: PostgresDatabase,
) -> None:
    log_database.insert_rows(INSERT, [params("once", 1.0, None)])
    with pytest.raises(DuplicateKey, match="once"):
        log_database.insert_rows(INSERT, [params("once", 2.0, None)])
    log_database.append(INSERT, params("after", 3.0, None))
    log_database.close()
    assert set(stored(log_database.url)) == {"once", "after"}


def test_a_killed_connection_fails_one_call_and_the_next_prepares_again(
    postgres_database: str,
) -> None:
    upgrade(postgres_database)
    log_database = PostgresDatabase(postgres_database, log_durable=False, pool_size=1)
    log_database.insert_rows(INSERT, [params("before", 1.0, None)])
    with psycopg.connect(log_database.url, autocommit=True) as admin:
        admin.execute(
            "SELECT pg_terminate_backend(pid) FROM pg_stat_activity"
            " WHERE datname = current_database() AND pid <> pg_backend_pid()"
        )
    with pytest.raises(StoreUnavailable):
        log_database.insert_rows(INSERT, [params("lost", 2.0, None)])
    # A fresh connection knows none of the old one's statements: they are prepared again.
    log_database.insert_rows(INSERT, [params("after", 3.0, None)])
    log_database.close()
    assert set(stored(log_database.url)) == {"before", "after"}
