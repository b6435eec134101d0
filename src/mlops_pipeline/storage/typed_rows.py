"""Typed rows <-> the prediction log's JSON column (``typed_features``, migration 0007).

A request's rows are one JSON array of objects by column name, ``null`` where a value is
missing: the form a person queries in SQL and ``GET /predictions`` shows, and the form that
survives a schema growing a column (an old row simply lacks the key). Numbers are written by
orjson (shortest round-trip form) from ``tolist()`` values, or from the values a one-row request
kept (``TypedBatch.log_rows``, the same Python floats), so a float64 reads back bit for bit.
"""

from __future__ import annotations

import json
from collections.abc import Iterable, Iterator
from typing import Any

import numpy as np
import orjson
from numpy.typing import NDArray

from mlops_pipeline.schema.rows import TypedBatch
from mlops_pipeline.storage.database import Row
from mlops_pipeline.storage.records import FLOAT, INT, LoggedRows, PredictionBatch

TypedRow = dict[str, Any]


def encode(batch: TypedBatch) -> str:
    """The batch as JSON text: ``[{"column": value or null, ...}, ...]``, one object per row."""
    if batch.log_rows is not None:  # the parser kept them (a one-row request): no numpy here
        return orjson.dumps(batch.log_rows).decode()
    names = list(batch.columns)
    columns: list[list[Any]] = []
    for name in names:
        values = batch.columns[name].tolist()
        mask = batch.missing.get(name)
        if mask is not None:
            # Lists, not numpy calls: a numpy call's overhead exceeds a one-row request's work.
            flags = mask.tolist()
            if True in flags:  # the placeholder (NaN, 0, "") is not a value
                values = [
                    None if flag else value for value, flag in zip(values, flags, strict=True)
                ]
        columns.append(values)
    rows = [dict(zip(names, row, strict=True)) for row in zip(*columns, strict=True)]
    # JSON has no NaN: orjson writes one as null, which is what it means (missing; the model
    # was fed NaN, which its imputer fills), so even an unmasked NaN is logged as missing.
    return orjson.dumps(rows).decode()


def decode(stored: object) -> list[TypedRow]:
    """A stored value back to its rows: PostgreSQL's driver hands JSONB over parsed already,
    SQLite hands over the text."""
    rows = json.loads(stored) if isinstance(stored, str | bytes) else stored
    if not isinstance(rows, list):
        raise ValueError(f"typed features must be a JSON array, not {type(rows).__name__}")
    return rows


def column_values(rows: list[TypedRow], names: list[str]) -> Iterator[tuple[str, list[Any]]]:
    """Per column, its values in row order (None where missing or absent from an old row)."""
    for name in names:
        yield name, [row.get(name) for row in rows]


def insert_params(batch: PredictionBatch, features: TypedBatch) -> tuple[Any, ...]:
    """Parameters of predictions.INSERT_TYPED: today's columns plus the rows' JSON."""
    return (
        batch.request_id,
        batch.created_at,
        batch.model_version,
        batch.user_id,
        len(batch.predictions),
        b"",  # the float blob is NOT NULL; typed rows live in typed_features
        np.ascontiguousarray(batch.predictions, dtype=INT).tobytes(),
        np.ascontiguousarray(batch.probabilities, dtype=FLOAT).tobytes(),
        batch.latency_ms,
        batch.assignment,
        batch.weights_version,
        batch.client_id,
        encode(features),
    )


def newest(pages: Iterable[Row], limit: int) -> LoggedRows:
    """The newest ``limit`` typed rows of predictions.TYPED_PAGE's pages, oldest first.

    A page row is (id, created_at, model_version, n_rows, predictions, client_id, typed).
    """
    chunks: list[tuple[list[TypedRow], NDArray[np.int64], str, str | None]] = []
    oldest: float | None = None
    taken = 0
    for row in pages:
        if taken >= limit:
            break
        if row[6] is None:
            continue
        n_rows = row[3]
        keep = min(n_rows, limit - taken)  # the newest rows of a batch that overflows
        values = decode(row[6])[n_rows - keep :]
        classes = np.frombuffer(row[4], dtype=INT)[n_rows - keep :]
        chunks.append((values, classes, row[2], row[5]))
        oldest = float(row[1])
        taken += keep
    chunks.reverse()  # requests arrived newest first; rows run oldest to newest
    predictions = [chunk[1] for chunk in chunks] or [np.empty(0, dtype=np.int64)]
    return LoggedRows(
        np.empty((taken, 0)),
        np.concatenate(predictions).astype(np.int64),
        [version for _, classes, version, _ in chunks for _ in range(len(classes))],
        oldest,
        [client for _, classes, _, client in chunks for _ in range(len(classes))],
        typed=[values for chunk in chunks for values in chunk[0]],
    )
