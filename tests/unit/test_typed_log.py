"""Typed rows in the prediction log, on SQLite and a real PostgreSQL (migration 0007)."""

from __future__ import annotations

import json

import numpy as np
import sqlalchemy as sa
from alembic import command

from mlops_pipeline.schema.model import Column, FeatureSchema, Task
from mlops_pipeline.schema.rows import TypedBatch, build_batch
from mlops_pipeline.storage import Storage, open_storage
from mlops_pipeline.storage.records import PredictionBatch
from mlops_pipeline.storage.schema import _config, head_revision, sqlalchemy_url, upgrade

SCHEMA = FeatureSchema(
    (
        Column("island", "string", True, ("Biscoe", "Dream", "Torgersen")),
        Column("bill_length_mm", "double", True),
        Column("year", "integer"),
        Column("tagged", "boolean", True),
    ),
    Task(classes=("Adelie", "Chinstrap", "Gentoo"), target="species"),
)
VALUES: dict[str, list[object]] = {
    "island": ["Biscoe", None, "Atlantis"],
    "bill_length_mm": [39.1, None, 0.1 + 0.2],  # 0.30000000000000004 must survive exactly
    "year": [2007, 2008, 2009],
    "tagged": [True, False, None],
}


def typed(
    request_id: str, values: dict[str, list[object]] = VALUES, at: float = 1.0
) -> PredictionBatch:
    rows = build_batch(SCHEMA, values, len(values["year"]), "instances")
    return PredictionBatch(
        request_id=request_id,
        created_at=at,
        model_version="v1",
        user_id=None,
        features=rows,
        predictions=np.arange(rows.n_rows, dtype=np.int64) % 3,
        probabilities=np.full((rows.n_rows, 3), 1 / 3),
        latency_ms=1.0,
        client_id="key-a",
    )


def numeric(request_id: str) -> PredictionBatch:
    return PredictionBatch(
        request_id, 0.5, "v1", None, np.array([[5.1, 3.5, 1.4, 0.2]]), np.array([0]),
        np.array([[0.9, 0.05, 0.05]]), 0.5,
    )  # fmt: skip


EXPECTED_ROWS = [
    {"island": "Biscoe", "bill_length_mm": 39.1, "year": 2007, "tagged": True},
    {"island": None, "bill_length_mm": None, "year": 2008, "tagged": False},
    {"island": "Atlantis", "bill_length_mm": 0.30000000000000004, "year": 2009, "tagged": None},
]


def test_typed_rows_read_back_as_objects_next_to_numeric_rows(storage: Storage) -> None:
    log = storage.predictions
    log.append(numeric("iris"))
    log.append(typed("penguins"))
    recent = log.recent(10)
    assert [r["features"] for r in recent[:3]] == EXPECTED_ROWS[::-1]  # newest row first
    assert recent[3]["features"] == [5.1, 3.5, 1.4, 0.2]  # the float blob, as before
    assert [r["prediction"] for r in recent[:3]] == [2, 1, 0]
    assert set(recent[0]) == set(recent[3])  # the same record shape for both kinds


def test_newest_typed_rows_oldest_first_skipping_numeric_requests(storage: Storage) -> None:
    log = storage.predictions
    log.append(typed("a", at=1.0))
    log.append(numeric("iris"))
    log.append(typed("b", at=2.0))
    rows = log.newest_typed_rows(4)  # all of b, the newest row of a
    assert rows.typed == [EXPECTED_ROWS[2], *EXPECTED_ROWS]
    assert rows.predictions.tolist() == [2, 0, 1, 2]
    assert rows.versions == ["v1"] * 4
    assert rows.clients == ["key-a"] * 4
    assert rows.oldest_created_at == 1.0
    assert rows.features.shape == (4, 0)
    empty = storage.predictions.newest_typed_rows(0)
    assert empty.typed == []
    assert empty.predictions.shape == (0,)


def test_typed_rows_are_queryable_json(storage: Storage) -> None:
    storage.predictions.append(typed("q"))
    db = storage.database
    if db.dialect == "postgresql":
        sql = (
            "SELECT typed_features->0->>'island', jsonb_typeof(typed_features->1->'island'),"
            " (typed_features->2->>'year')::int FROM predictions"
        )
    else:
        sql = (
            "SELECT json_extract(typed_features, '$[0].island'),"
            " json_type(typed_features, '$[1].island'),"
            " json_extract(typed_features, '$[2].year') FROM predictions"
        )
    assert db.fetchone(sql) == ("Biscoe", "null", 2009)


def test_retention_deletes_typed_rows(storage: Storage) -> None:
    log = storage.predictions
    log.append(typed("old", at=1.0))
    log.append(typed("new", at=2.0))
    oldest = log.oldest(1)
    assert log.delete([oldest[0][0]]) == 1
    assert {r["request_id"] for r in log.recent(10)} == {"new"}


def test_a_missing_value_never_reaches_json_as_nan() -> None:
    from mlops_pipeline.storage.typed_rows import encode

    batch = build_batch(SCHEMA, VALUES, 3, "instances")
    assert json.loads(encode(batch)) == EXPECTED_ROWS
    # JSON has no NaN: one left unmasked is still logged as what it means, missing.
    unmasked = TypedBatch(1, {"x": np.array([np.nan])}, {}, {})
    assert json.loads(encode(unmasked)) == [{"x": None}]


def test_rows_logged_before_0007_stay_readable(empty_database_url: str) -> None:
    config = _config()
    engine = sa.create_engine(sqlalchemy_url(empty_database_url), poolclass=sa.pool.NullPool)
    with engine.begin() as connection:
        config.attributes["connection"] = connection
        command.upgrade(config, "0006")
    engine.dispose()
    before = open_storage(empty_database_url, check_schema=False)
    before.database.append(  # today's Iris insert, against the 0006 table
        "INSERT INTO predictions (request_id, created_at, model_version, user_id, n_rows,"
        " features, predictions, probabilities, latency_ms, assignment, weights_version,"
        " client_id) VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?)",
        ("old", 0.5, "v1", None, 1, np.array([1.0, 2.0]).tobytes(),
         np.array([1]).tobytes(), np.array([0.2, 0.8]).tobytes(), 0.5, "routed", None, None),
    )  # fmt: skip
    before.close()
    assert upgrade(empty_database_url) == ("0006", head_revision())
    after = open_storage(empty_database_url)
    try:
        assert after.predictions.recent(5)[0]["features"] == [1.0, 2.0]
        assert after.predictions.newest_rows(5).features.tolist() == [[1.0, 2.0]]
        assert after.predictions.newest_typed_rows(5).typed == []
    finally:
        after.close()
