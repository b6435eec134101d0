"""Typed values -> typed columns: the one place a request's values are checked.

Every request shape (``/predict`` bodies in bodies.py, V2 named inputs in v2_inputs.py) gathers
its values per column and ends here, as a :class:`TypedBatch`: per column one numpy array
(``float64`` for double, ``int64`` for integer, ``bool`` for boolean, an object array of ``str``
for string), a missing-value mask per nullable column and, per string column, how many values
fall outside the training categories (answered, and counted for metrics and drift).

Decisions, each tested:

* rows are counted from 0, as the JSON list indexes them;
* ``null`` is missing in a nullable column and refused in a required one;
* JSON booleans are not numbers (``True`` is an ``int`` in Python, but a client that sends
  ``true`` for a number has the wrong column), and numbers are not booleans;
* a double column accepts integers; an integer column accepts an integral float (``2.0``):
  JSON has one number type and many encoders write whole numbers as ``2.0`` (Python's ``json``
  on a float, pandas on an integer column with missing values), with nothing lost; ``1.5``
  would lose the fraction, so it is refused, as are values outside the 64-bit range;
* NaN and infinities are refused (missing is ``null``, not NaN).

Speed: each column is checked by the set of its value types, then converted by numpy in one
call; Python loops over values run only to name the first bad cell of a request already refused
(and to turn ``2.0`` into ``2``).
"""

from __future__ import annotations

import math
import operator
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass, field
from itertools import repeat
from typing import Any, Literal

import numpy as np
from numpy.typing import NDArray

from mlops_pipeline.schema.model import MAX_STRING_LENGTH, Column, FeatureSchema

RowCode = Literal[
    "unknown_column",
    "missing_column",
    "wrong_type",
    "null_in_required",
    "non_finite",
    "string_too_long",
    "too_many_rows",
    "bad_body",  # the body's shape, before any row: no known key, a list that is not one
]
BodyForm = Literal["features", "instances", "dataframe_split", "dataframe_records", "v2"]
INT64_MIN, INT64_MAX = -(2**63), 2**63 - 1
_NONE = type(None)
_ALLOWED: dict[str, frozenset[type]] = {
    "double": frozenset({float, int}),
    "integer": frozenset({int, float}),
    "boolean": frozenset({bool}),
    "string": frozenset({str}),
}
_EXPECTED = {"double": "a number", "integer": "an integer", "boolean": "true or false"}
_FEW = 16  # rows below which plain Python checks are faster than numpy calls
_FILLER: dict[str, object] = {"double": 0.0, "integer": 0, "boolean": False, "string": ""}


class RowError(ValueError):
    """A request value that does not fit the schema; the message names the row and column.

    ``label`` is what the column is called where it came from: "column" in ``/predict``,
    "input" for V2 named inputs.
    """

    def __init__(
        self,
        row: int | None,
        column: str | None,
        message: str,
        *,
        code: RowCode,
        label: str = "column",
    ) -> None:
        where = []
        if row is not None:
            where.append(f"row {row}")
        if column is not None:
            where.append(f"{label} {_name(column)}")
        super().__init__(f"{', '.join(where)}: {message}" if where else message)
        self.row, self.column, self.code, self.detail = row, column, code, message


@dataclass(frozen=True)
class TypedBatch:
    n_rows: int
    columns: Mapping[str, NDArray[Any]]  # every schema column, in schema order
    # Nullable columns only: True where missing. The array holds a placeholder there (NaN for
    # double, 0, False or ""); the mask, not the placeholder, says what is missing.
    missing: Mapping[str, NDArray[np.bool_]]
    unseen: Mapping[str, int]  # string columns: non-missing values outside the categories
    form: BodyForm = "instances"
    # The rows as the prediction log writes them (objects by column, None where missing), when
    # the parser had them in hand anyway (one_row.quick_row); otherwise built from the columns
    # when logged (storage/typed_rows.encode). A cache of the columns, so not compared.
    log_rows: list[dict[str, Any]] | None = field(default=None, compare=False, repr=False)
    # Each column as an [N, 1] array, the shape of a model's named inputs, when the parser built
    # them so (one_row.quick_row, whose ``columns`` are then views of them): a model is fed
    # these as they are. Another form of the columns, so not compared.
    cells: Mapping[str, NDArray[Any]] | None = field(default=None, compare=False, repr=False)


def check_row_count(count: int, max_rows: int) -> None:
    if count == 0:
        raise RowError(None, None, "no rows", code="bad_body")
    if count > max_rows:
        message = f"{count} rows; at most {max_rows} are accepted in one request"
        raise RowError(None, None, message, code="too_many_rows")


def build_batch(
    schema: FeatureSchema,
    values: Mapping[str, Sequence[Any] | None],
    n_rows: int,
    form: BodyForm,
    label: str = "column",
) -> TypedBatch:
    """Check and convert gathered values (None for a nullable column left out: all missing)."""
    columns: dict[str, NDArray[Any]] = {}
    missing: dict[str, NDArray[np.bool_]] = {}
    unseen: dict[str, int] = {}
    for column in schema.columns:
        cells = values[column.name]
        array, mask = convert_column(column, [None] * n_rows if cells is None else cells, label)
        columns[column.name] = array
        if column.nullable:
            missing[column.name] = np.zeros(n_rows, dtype=bool) if mask is None else mask
        if column.type == "string":
            seen = sum(map(column.category_set.__contains__, array))
            # Missing cells hold "", which counts as seen only if "" is itself a category.
            placeholders = 0 if mask is None or "" in column.category_set else int(mask.sum())
            unseen[column.name] = n_rows - seen - placeholders
    return TypedBatch(n_rows, columns, missing, unseen, form)


def convert_column(
    column: Column, values: Sequence[Any], label: str = "column"
) -> tuple[NDArray[Any], NDArray[np.bool_] | None]:
    """(array, missing mask or None when nothing is missing) of one column's values."""
    kinds = set(map(type, values))
    mask: NDArray[np.bool_] | None = None
    if _NONE in kinds:
        if not column.nullable:
            row = _first(values, lambda v: v is None)
            raise _error(row, column, "null in a required column", "null_in_required", label)
        kinds.discard(_NONE)
        mask = np.fromiter(map(operator.is_, values, repeat(None)), dtype=bool, count=len(values))
        filler = _FILLER[column.type]
        values = [filler if v is None else v for v in values]
    if not kinds <= _ALLOWED[column.type]:
        row = _first(values, lambda v: type(v) not in _ALLOWED[column.type])
        expected = _EXPECTED.get(column.type, "a string")
        message = f"expected {expected}, got {_preview(values[row])}"
        raise _error(row, column, message, "wrong_type", label)
    if column.type == "double":
        return _doubles(column, values, mask, label), mask
    if column.type == "integer":
        return _integers(column, values, kinds, label), mask
    if column.type == "boolean":
        return np.array(values, dtype=bool), mask
    if values and max(map(len, values)) > MAX_STRING_LENGTH:
        row = _first(values, lambda v: len(v) > MAX_STRING_LENGTH)
        message = f"{len(values[row])} characters; at most {MAX_STRING_LENGTH}"
        raise _error(row, column, message, "string_too_long", label)
    array = np.empty(len(values), dtype=object)
    array[:] = values  # slice assignment: np.array(list_of_str, object) would be the same, but
    return array, mask  # this form cannot turn equal-length sequences into a 2-D array


def _doubles(
    column: Column, values: Sequence[Any], mask: NDArray[np.bool_] | None, label: str
) -> NDArray[np.float64]:
    try:
        array = np.array(values, dtype=np.float64)
    except OverflowError:  # a Python int beyond float64's range
        row = _first(values, lambda v: not _fits_float(v))
        raise _error(row, column, "number too large", "non_finite", label) from None
    # A few values (a single-row request): math.isfinite beats numpy's per-call overhead.
    if len(values) > _FEW or not all(map(math.isfinite, values)):
        finite = np.isfinite(array)
        if finite.all():
            return _fill(array, mask)
        row = int(np.argmin(finite))
        message = f"{values[row]} is not a finite number"
        raise _error(row, column, message, "non_finite", label)
    return _fill(array, mask)


def _fill(array: NDArray[np.float64], mask: NDArray[np.bool_] | None) -> NDArray[np.float64]:
    if mask is not None:
        array[mask] = np.nan
    return array


def _integers(
    column: Column, values: Sequence[Any], kinds: set[type], label: str
) -> NDArray[np.int64]:
    if float in kinds:  # rare: integral floats such as 2.0 (see the module's decisions)
        whole: list[object] = []
        for row, value in enumerate(values):
            if type(value) is float:
                if not math.isfinite(value):
                    raise _error(
                        row, column, f"{value} is not a finite number", "non_finite", label
                    )
                if not value.is_integer():
                    raise _error(row, column, f"{value!r} is not an integer", "wrong_type", label)
                value = int(value)
            whole.append(value)
        values = whole
    try:
        return np.array(values, dtype=np.int64)
    except OverflowError:
        row = _first(values, lambda v: not INT64_MIN <= v <= INT64_MAX)
        message = f"{values[row]} is outside the 64-bit integer range"
        raise _error(row, column, message, "wrong_type", label) from None


def _error(row: int, column: Column, message: str, code: RowCode, label: str) -> RowError:
    return RowError(row, column.name, message, code=code, label=label)


def _first(values: Sequence[Any], bad: Callable[[Any], bool]) -> int:
    return next(index for index, value in enumerate(values) if bad(value))


def _fits_float(value: Any) -> bool:
    try:
        float(value)
    except OverflowError:
        return False
    return True


def _name(name: str) -> str:
    return repr(name) if len(name) <= 40 else repr(name[:37] + "...")


def _preview(value: object) -> str:
    """A value as JSON spells it, bounded: messages echo client text."""
    if value is None or isinstance(value, bool):
        return {None: "null", True: "true", False: "false"}[value]
    if isinstance(value, dict):
        return "an object"
    if isinstance(value, list):
        return "a list"
    text = repr(value)
    return text if len(text) <= 40 else text[:37] + "..."
