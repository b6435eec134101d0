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
from collections.abc import Iterator, Mapping
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
_DTYPE: dict[str, type] = {
    "double": np.float64, "integer": np.int64, "boolean": np.bool_, "string": object
}  # fmt: skip
_LARGEST = 2**1023  # an int below this in size converts to a finite float


def quick_row(schema: FeatureSchema, row: dict[str, Any]) -> TypedBatch | None:
    """The one-row TypedBatch of ``row`` (by column name), or None when the row is not certainly
    complete and valid: the caller then runs the full check, which names the mistake.

    Accepted are exactly the JSON types build_batch accepts without converting (2.0 for an
    integer column is accepted there, but converted: declined here). ``type(...) is``, not
    isinstance: a bool is an int to Python, and must not pass as a number. The checks are
    written out in the loop rather than called per cell: this runs on every request."""
    if len(row) != len(schema.columns):
        return None  # a nullable column left out, or an unknown one: build_batch decides
    cells: dict[str, NDArray[Any]] = {}
    missing: dict[str, NDArray[np.bool_]] = {}
    unseen: dict[str, int] = {}
    logged: dict[str, Any] = {}  # the row as the log writes it (see TypedBatch.log_rows)
    for column in schema.columns:
        name, kind = column.name, column.type
        value = row.get(name, row)  # the row itself stands for "absent": never a JSON value
        if value is None:
            if not column.nullable:
                return None
            missing[name] = _MISSING
            logged[name] = None
            if kind == "string":
                unseen[name] = 0
            value = _PLACEHOLDER[kind]
        else:
            given = type(value)
            if kind == "double":
                if given is int and abs(value) < _LARGEST:
                    value = float(value)  # what the float64 array gives back: 2 is 2.0
                elif given is not float or not math.isfinite(value):
                    return None
            elif kind == "string":
                if given is not str or len(value) > MAX_STRING_LENGTH:
                    return None
                unseen[name] = 0 if value in column.category_set else 1
            elif kind == "integer":
                if given is not int or not INT64_MIN <= value <= INT64_MAX:
                    return None
            elif given is not bool:
                return None
            if column.nullable:
                missing[name] = _PRESENT
            logged[name] = value
        # Nested lists: numpy never unpacks a str, so a string cell stays one element.
        cells[name] = np.array([[value]], dtype=_DTYPE[kind])
    return TypedBatch(
        1, _Columns(cells), missing, unseen, "features", log_rows=[logged], cells=cells
    )


class _Columns(Mapping[str, NDArray[Any]]):
    """The one-element columns of ``[1, 1]`` cells, each a view made when it is read: the model
    is fed the cells themselves, and on the serving path nothing else reads the columns."""

    __slots__ = ("_cells",)

    def __init__(self, cells: dict[str, NDArray[Any]]) -> None:
        self._cells = cells

    def __getitem__(self, name: str) -> NDArray[Any]:
        return self._cells[name].reshape(1)

    def __iter__(self) -> Iterator[str]:
        return iter(self._cells)

    def __len__(self) -> int:
        return len(self._cells)
