"""One valid row, the quick way: the single-row ``/predict`` body (``{"features": {...}}``).

``rows.build_batch`` checks a column's values as a set of types and converts them with one numpy
call per column: the right trade for a batch, but for one row its sets, masks and numpy calls
cost about 50 us on a seven-column schema, more than the model's graph. :func:`quick_row` takes
a row that is complete and valid for certain (every column present by name, each value of its
column's exact JSON type, finite, in range, short enough) straight to its TypedBatch in a few
microseconds, and declines (None) anything else. A declined row goes through ``build_batch``,
so every mistake is still named there, once, with its message and code: this module decides
nothing about errors. tests/unit/test_schema_one_row.py checks both paths give equal batches.
"""

from __future__ import annotations

import math
from typing import Any

import numpy as np
from numpy.typing import NDArray

from mlops_pipeline.schema.model import MAX_STRING_LENGTH, FeatureSchema
from mlops_pipeline.schema.rows import INT64_MAX, INT64_MIN, TypedBatch


def _frozen(array: NDArray[Any]) -> NDArray[Any]:
    array.flags.writeable = False  # shared by every request: nobody may write into it
    return array


# A one-row missing mask is one of two values; shared rather than allocated per column.
_PRESENT, _MISSING = _frozen(np.zeros(1, dtype=bool)), _frozen(np.ones(1, dtype=bool))
# build_batch's placeholders for a missing cell (see TypedBatch.missing).
_PLACEHOLDER: dict[str, object] = {"double": math.nan, "integer": 0, "boolean": False, "string": ""}
_DTYPE = {"double": np.float64, "integer": np.int64, "boolean": np.bool_}


def quick_row(schema: FeatureSchema, row: dict[str, Any]) -> TypedBatch | None:
    """The one-row TypedBatch of ``row`` (by column name), or None when the row is not certainly
    complete and valid: the caller then runs the full check, which names the mistake."""
    if len(row) != len(schema.columns):
        return None  # a nullable column left out, or an unknown one: build_batch decides
    columns: dict[str, NDArray[Any]] = {}
    missing: dict[str, NDArray[np.bool_]] = {}
    unseen: dict[str, int] = {}
    for column in schema.columns:
        name, kind = column.name, column.type
        value = row.get(name, row)  # the row itself stands for "absent": never a JSON value
        if value is None:
            if not column.nullable:
                return None
            missing[name] = _MISSING
            value = _PLACEHOLDER[kind]
        elif value is row or not _valid(kind, value):
            return None
        elif column.nullable:
            missing[name] = _PRESENT
        if kind == "string":
            cell = np.empty(1, dtype=object)
            cell[0] = value
            columns[name] = cell
            unseen[name] = (
                0 if missing.get(name) is _MISSING else int(value not in column.category_set)
            )
        else:
            columns[name] = np.array((value,), dtype=_DTYPE[kind])
    return TypedBatch(1, columns, missing, unseen, "features")


def _valid(kind: str, value: object) -> bool:
    """Exactly the JSON types build_batch accepts without converting (2.0 for an integer
    column is accepted there, but converted: declined here). ``type(...) is``, not isinstance:
    a bool is an int to Python, and must not pass as a number."""
    if kind == "double":
        if type(value) is float:
            return math.isfinite(value)
        return type(value) is int and abs(value) < 2**1023  # float() of it is finite
    if kind == "integer":
        return type(value) is int and INT64_MIN <= value <= INT64_MAX
    if kind == "boolean":
        return type(value) is bool
    return type(value) is str and len(value) <= MAX_STRING_LENGTH
