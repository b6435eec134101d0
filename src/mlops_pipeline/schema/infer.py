"""Infer a FeatureSchema from training data (a CSV read with pandas) and its target column.

=================================== ==========================================================
pandas column                       column type
=================================== ==========================================================
float (``float64``, ``Float64``)    ``double``, even when every value is whole (see below)
integer (``int64``, ``Int64``, ...) ``integer``
bool (``bool``, ``boolean``)        ``boolean``
string / object of ``str``          ``string``, categories = the distinct values, sorted
object of one Python kind           that kind (bools, ints, numbers), else refused as mixed
=================================== ==========================================================

A column is nullable when any value is missing. Dates, times and complex numbers are refused:
the serving types have no such values. The schema is a contract the training data itself meets,
so overrides (a mapping column -> ``{type, nullable, categories}`` from a versions file, applied
after inference) are checked against the data: ``nullable = false`` on a column with missing
values, ``integer`` on a column holding ``1.5`` or categories that leave out a training value
are refused. An override is also how to type what inference cannot (an empty column, a column
of mixed kinds read as text): ``type = "string"`` turns whole numbers into ``"1"``, not ``"1.0"``.
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any, cast

import numpy as np
import pandas as pd

from mlops_pipeline.schema.model import (
    COLUMN_TYPES,
    MAX_CATEGORIES,
    MAX_STRING_LENGTH,
    Column,
    ColumnType,
    FeatureSchema,
    SchemaError,
    Task,
    TaskKind,
)

Overrides = Mapping[str, Mapping[str, object]]
OVERRIDE_FIELDS = frozenset({"type", "nullable", "categories"})


def infer_schema(
    frame: pd.DataFrame,
    target: str,
    *,
    task: TaskKind = "classification",
    overrides: Overrides | None = None,
) -> FeatureSchema:
    """Every column but ``target``, in the frame's order, then the task from ``target``."""
    names = list(frame.columns)
    if not all(isinstance(name, str) for name in names) or len(set(names)) != len(names):
        raise SchemaError("the training data needs distinct column names (a header row)")
    if target not in names:
        raise SchemaError(f"no target column {target!r}; the columns are {names}")
    if len(frame) == 0:
        raise SchemaError("the training data has no rows")
    checked = check_overrides(overrides or {}, names, target)
    columns = tuple(
        infer_column(name, frame[name], checked.get(name, {})) for name in names if name != target
    )
    return FeatureSchema(columns, infer_task(frame[target], target, task))


def check_overrides(overrides: Overrides, names: list[str], target: str) -> Overrides:
    """The overrides once each names an input column and only known fields of the right kind."""
    for name, fields in overrides.items():
        if name == target:
            raise SchemaError(f"overrides: {name!r} is the target, not an input column")
        if name not in names:
            raise SchemaError(f"overrides: no column {name!r} in the training data")
        if not isinstance(fields, Mapping) or not set(fields) <= OVERRIDE_FIELDS:
            raise SchemaError(f"overrides for {name!r}: only {sorted(OVERRIDE_FIELDS)}")
        if "type" in fields and fields["type"] not in COLUMN_TYPES:
            raise SchemaError(f"overrides for {name!r}: type must be one of {list(COLUMN_TYPES)}")
        if not isinstance(fields.get("nullable", False), bool):
            raise SchemaError(f"overrides for {name!r}: nullable must be true or false")
        categories = fields.get("categories", [])
        if not isinstance(categories, list | tuple) or not all(
            isinstance(c, str) for c in categories
        ):
            raise SchemaError(f"overrides for {name!r}: categories must be a list of strings")
    return overrides


def infer_column(name: str, series: pd.Series, override: Mapping[str, object]) -> Column:
    present = series.dropna()
    missing = len(series) - len(present)
    kind = cast(ColumnType, override.get("type") or natural_type(name, series, present))
    values = typed_values(name, present, kind)
    nullable = override.get("nullable", missing > 0)
    if nullable is False and missing:
        raise SchemaError(
            f"column {name!r}: nullable = false, but it is missing in {missing} of"
            f" {len(series)} rows"
        )
    categories: tuple[str, ...] = ()
    if kind == "string":
        seen = sorted(set(values))
        if len(seen) > MAX_CATEGORIES:
            raise SchemaError(
                f"column {name!r}: {len(seen)} distinct values, more than {MAX_CATEGORIES}:"
                " free text or an identifier, not a category; drop it"
            )
        too_long = [value for value in seen if len(value) > MAX_STRING_LENGTH]
        if too_long:
            raise SchemaError(
                f"column {name!r}: a value of {len(too_long[0])} characters; requests carry at"
                f" most {MAX_STRING_LENGTH}"
            )
        declared = override.get("categories")
        if declared is not None:
            unlisted = sorted(set(seen) - set(cast(list[str], declared)))
            if unlisted:
                raise SchemaError(f"column {name!r}: categories leave out {unlisted[:5]}")
            seen = sorted(set(cast(list[str], declared)))
        categories = tuple(seen)
    elif "categories" in override:
        raise SchemaError(f"overrides for {name!r}: only string columns have categories")
    return Column(name, kind, bool(nullable), categories)


def natural_type(name: str, series: pd.Series, present: pd.Series) -> ColumnType:
    dtype = series.dtype
    if len(present) == 0:
        raise SchemaError(f"column {name!r}: no values, so no type; drop it or override its type")
    if pd.api.types.is_bool_dtype(dtype):
        return "boolean"
    if pd.api.types.is_integer_dtype(dtype):
        return "integer"
    if pd.api.types.is_float_dtype(dtype):
        # Whole values stay double: pandas reads an integer column with a missing value as float,
        # and the fitted model saw float64; typing it integer would refuse 181.5 at serving
        # though the model takes it, and make the served type depend on one sample's values.
        # An owner who means integer says so in the overrides.
        return "double"
    if pd.api.types.is_string_dtype(dtype) or isinstance(dtype, pd.CategoricalDtype):
        kinds = {_kind(value) for value in present}
        if len(kinds) == 1 and None not in kinds:
            return cast(ColumnType, kinds.pop())
        if kinds == {"integer", "double"}:
            return "double"
        found = sorted(str(kind or "other") for kind in kinds)
        raise SchemaError(f"column {name!r}: values of mixed kinds {found}; override its type")
    raise SchemaError(f"column {name!r}: {dtype} values; convert to numbers or strings first")


def typed_values(name: str, present: pd.Series, kind: ColumnType) -> list[Any]:
    """The non-missing values as ``kind`` (Python values), or why they are not."""
    values: list[Any] = present.tolist()
    kinds = {_kind(value) for value in values}
    if kind == "string":
        if not kinds <= {"string", "integer", "double"} or not all(
            _kind(v) != "double" or float(v).is_integer() for v in values
        ):
            raise SchemaError(f"column {name!r}: only text or whole numbers make a string column")
        return [v if isinstance(v, str) else str(int(v)) for v in values]
    if kind == "boolean":
        if not kinds <= {"boolean"}:
            raise SchemaError(f"column {name!r}: not every value is true or false")
        return values
    if not kinds <= {"integer", "double"}:
        raise SchemaError(f"column {name!r}: not every value is a number")
    numbers = np.asarray(values, dtype=np.float64)
    if not np.isfinite(numbers).all():
        raise SchemaError(f"column {name!r}: infinite values in the training data")
    if kind == "integer":
        if not (numbers == np.floor(numbers)).all():
            raise SchemaError(f"column {name!r}: values with a fraction are not integers")
        if len(numbers) and max(abs(int(v)) for v in values) >= 2**63:
            raise SchemaError(f"column {name!r}: values beyond the 64-bit integer range")
    return values


def infer_task(series: pd.Series, target: str, kind: TaskKind) -> Task:
    """Class names: the target's distinct values in their own sort order (the order numpy and
    scikit-learn's ``classes_`` use: 2 before 10), written as strings. Rows without a label are
    not a class: the trainer drops them."""
    present = series.dropna()
    if kind == "regression":
        if present.empty or not {_kind(v) for v in present.tolist()} <= {"integer", "double"}:
            raise SchemaError(f"target {target!r}: regression needs numbers")
        return Task("regression", (), target)
    distinct = present.unique().tolist()
    try:
        distinct.sort()
    except TypeError:  # mixed kinds (1 and "a"): no native order, the text order decides
        distinct.sort(key=str)
    if len(distinct) > MAX_CATEGORIES:
        raise SchemaError(
            f"target {target!r}: {len(distinct)} distinct values, more than {MAX_CATEGORIES}"
            " classes; is it a regression?"
        )
    if len(distinct) < 2:
        raise SchemaError(f"target {target!r}: classification needs two classes, found {distinct}")
    names = [str(value) for value in distinct]
    if len(set(names)) != len(names):  # 1 and "1": one name for two classes
        raise SchemaError(f"target {target!r}: classes {names} are not distinct as text")
    return Task("classification", tuple(names), target)


def _kind(value: object) -> str | None:
    """The column type one Python (or numpy) value belongs to, None for anything else."""
    if isinstance(value, bool | np.bool_):
        return "boolean"
    if isinstance(value, int | np.integer):
        return "integer"
    if isinstance(value, float | np.floating):
        return "double"
    if isinstance(value, str):
        return "string"
    return None
