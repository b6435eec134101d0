"""Typed rows as an ONNX Runtime feed: one named ``[N, 1]`` array per schema column.

The contract between a model exported by ``training/typed_export.py`` and whoever runs it (the
serving path, registration checks, parity tests). Numpy only: it runs on the request path.

How each column is fed, and how a missing value is written:

============================= ============ ==================================================
column                        ONNX input   missing value
============================= ============ ==================================================
``double``                    ``double``   NaN (the model's median imputer fills it)
``integer``, required         ``int64``    (none: a required column is never missing)
``boolean``, required         ``bool``     (none)
``integer``/``boolean``, null ``double``   NaN; ``true``/``false`` as 1.0/0.0
``string``                    ``string``   ``""`` (the model's imputer turns it into
                                           ``"missing"``, one more one-hot category)
============================= ============ ==================================================

An int64 or bool tensor has no value for "missing", so a nullable integer or boolean column is
fed as double with NaN, as pandas itself reads such a column. A missing string is the empty
string rather than NaN because ONNX string tensors cannot hold NaN and skl2onnx's string imputer
matches a string; an empty category therefore means missing, in training as in serving.
"""

from __future__ import annotations

import math
from collections.abc import Mapping, Sequence
from typing import Any, Literal

import numpy as np
from numpy.typing import NDArray

from mlops_pipeline.schema.model import Column, FeatureSchema
from mlops_pipeline.schema.rows import TypedBatch

OnnxInput = Literal["double", "int64", "bool", "string"]
MISSING_STRING = ""  # how a missing string value is fed (see the table above)


def onnx_input(column: Column) -> OnnxInput:
    """The element type of ``column``'s ONNX input."""
    if column.type == "string":
        return "string"
    if column.type == "double" or column.nullable:
        return "double"
    return "int64" if column.type == "integer" else "bool"


def _missing(value: object) -> bool:
    # None (JSON null), NaN (pandas, numpy) and pandas.NA, without importing pandas here.
    if value is None or type(value).__name__ == "NAType":
        return True
    return isinstance(value, float) and math.isnan(value)


def column_array(
    column: Column,
    values: Sequence[object] | NDArray[Any],
    missing: NDArray[np.bool_] | None = None,
) -> NDArray[Any]:
    """``values`` of one column as its ``[N, 1]`` input. Missing is None/NaN in ``values`` or
    True in ``missing`` (a mask, as ``schema.rows.TypedBatch`` carries beside placeholders).
    ValueError naming the column for a missing value in a required column or a wrong value."""
    kind = onnx_input(column)
    if missing is not None and not missing.any():
        missing = None
    if kind == "string":
        cells = np.array(
            [MISSING_STRING if _missing(value) else str(value) for value in values], dtype=object
        )
        if missing is not None:
            cells[missing] = MISSING_STRING
        return cells.reshape(-1, 1)
    if kind == "double":
        try:
            if isinstance(values, np.ndarray) and values.dtype.kind in "biuf":
                numbers = values.astype(np.float64)  # a copy: the mask below writes into it
            else:
                numbers = np.array(
                    [math.nan if _missing(v) else float(v) for v in values],  # type: ignore[arg-type]
                    dtype=np.float64,
                )
        except (TypeError, ValueError):
            raise ValueError(f"column {column.name!r}: a value is not a number") from None
        if missing is not None:
            numbers[missing] = math.nan
        return numbers.reshape(-1, 1)
    if missing is not None or any(_missing(value) for value in values):
        raise ValueError(f"column {column.name!r} is required: a value is missing")
    dtype = np.int64 if kind == "int64" else np.bool_
    return np.asarray(values, dtype=dtype).reshape(-1, 1)


def batch_feed(schema: FeatureSchema, batch: TypedBatch) -> dict[str, NDArray[Any]]:
    """The feed of a checked request (the serving path): equal to ``onnx_feed(schema,
    batch.columns, batch.missing)``, without converting again what ``schema.rows`` converted.
    A TypedBatch already holds each column in its dtype with NaN or ``""`` where a double or a
    string is missing; only a nullable integer or boolean column changes (to double, NaN). A
    batch with ``cells`` (one request's row) is fed those as they are."""
    widened = schema.nullable_integral
    if batch.cells is not None and not widened:
        return dict(batch.cells)  # already each column's [N, 1] input, in schema order
    feed: dict[str, NDArray[Any]] = {}
    for column in schema.columns:
        values = batch.columns[column.name]
        if column.name in widened:
            numbers = values.astype(np.float64)
            numbers[batch.missing[column.name]] = math.nan
            values = numbers
        feed[column.name] = values.reshape(-1, 1)
    return feed


def onnx_feed(
    schema: FeatureSchema,
    columns: Mapping[str, Sequence[object] | NDArray[Any]],
    missing: Mapping[str, NDArray[np.bool_]] | None = None,
) -> dict[str, NDArray[Any]]:
    """The feed dict for ``session.run`` from column values by name (every schema column), e.g.
    ``onnx_feed(schema, batch.columns, batch.missing)`` for a ``TypedBatch``."""
    absent = [name for name in schema.names if name not in columns]
    if absent:
        raise ValueError(f"columns {absent} are missing from the rows")
    masks = missing or {}
    feed = {
        column.name: column_array(column, columns[column.name], masks.get(column.name))
        for column in schema.columns
    }
    lengths = {len(array) for array in feed.values()}
    if len(lengths) > 1:
        raise ValueError(f"columns of different lengths: {sorted(lengths)}")
    return feed
