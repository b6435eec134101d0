"""``/predict`` bodies -> a TypedBatch: the rows and each column's values (rows.py checks them).

Accepted shapes, all parsed JSON (exactly one per body; other keys such as ``user_id`` ignored):

* ``{"features": {...}}``: one row, an object by column name; a positional list only when the
  schema is all-numeric (today's Iris body);
* ``{"instances": [...]}``: a list of such rows;
* ``{"dataframe_split": {"columns": [...], "data": [[...], ...]}}`` and
  ``{"dataframe_records": [{...}, ...]}``: MLflow's scoring bodies.

A nullable column may be left out of a row or of a split's columns: missing, as MLflow's
optional columns are; a required one may not. Values are gathered by one comprehension per
column; per-row Python runs only for rows that leave out a column or carry an unknown one. A
single ``features`` row that is complete and valid takes one_row.quick_row's shortcut.
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

from mlops_pipeline.schema.model import FeatureSchema
from mlops_pipeline.schema.one_row import quick_row
from mlops_pipeline.schema.rows import (
    BodyForm,
    RowCode,
    RowError,
    TypedBatch,
    build_batch,
    check_row_count,
)

BODY_KEYS: tuple[BodyForm, ...] = ("features", "instances", "dataframe_split", "dataframe_records")


def batch_from_body(body: object, schema: FeatureSchema, max_rows: int) -> TypedBatch:
    """The TypedBatch of a ``/predict`` body (one of :data:`BODY_KEYS`; other keys ignored)."""
    if not isinstance(body, dict):
        raise RowError(None, None, "the body must be a JSON object", code="bad_body")
    row = body.get("features")
    if type(row) is dict and not any(key in body for key in BODY_KEYS[1:]):
        quick = quick_row(schema, row)  # one complete, valid row: the common request
        if quick is not None:
            return quick
    forms = [key for key in BODY_KEYS if key in body]
    if len(forms) != 1:
        found = f"{len(forms)}: {forms}" if forms else "none"
        raise RowError(
            None, None, f"send exactly one of {list(BODY_KEYS)} ({found})", code="bad_body"
        )
    form, value = forms[0], body[forms[0]]
    if form == "features":
        if not isinstance(value, dict | list):
            raise RowError(0, None, _row_shape(schema), code="wrong_type")
        return build_batch(schema, _gather([value], schema, max_rows), 1, form)
    if form == "dataframe_split":
        return _dataframe_split(value, schema, max_rows)
    if not isinstance(value, list):
        raise RowError(None, None, f"{form!r} must be a list of rows", code="bad_body")
    if form == "dataframe_records" and not all(type(row) is dict for row in value):
        index = next(i for i, row in enumerate(value) if type(row) is not dict)
        raise RowError(index, None, "a record must be an object", code="wrong_type")
    return build_batch(schema, _gather(value, schema, max_rows), len(value), form)


def _gather(
    rows: list[Any], schema: FeatureSchema, max_rows: int
) -> dict[str, Sequence[Any] | None]:
    """Column -> values of rows given as objects by name (or, all-numeric only, as lists)."""
    check_row_count(len(rows), max_rows)
    names = schema.names
    kinds = set(map(type, rows))
    if kinds == {list} and schema.all_numeric:
        return _positional(rows, names, schema)
    objects = (
        rows
        if kinds == {dict}
        else [_as_object(index, row, schema) for index, row in enumerate(rows)]
    )
    if sum(map(len, objects)) == len(names) * len(objects):
        # Every row holding every column and no other (equal key counts): one comprehension
        # per column, the fastest transpose measured (itemgetter + zip is slower).
        try:
            return {name: [row[name] for row in objects] for name in names}
        except KeyError:
            pass
    checked = [_complete(index, row, schema) for index, row in enumerate(objects)]
    return {name: [row[name] for row in checked] for name in names}


def _positional(
    rows: Sequence[Any], names: Sequence[str], schema: FeatureSchema
) -> dict[str, Sequence[Any] | None]:
    """Rows as lists, one value per name in ``names`` (all the schema's, or a split's columns)."""
    if not all(type(row) is list for row in rows):
        index = next(i for i, row in enumerate(rows) if type(row) is not list)
        raise RowError(index, None, "a row of 'data' must be a list", code="wrong_type")
    width = len(names)
    for index, row in enumerate(rows):
        if len(row) != width:
            code: RowCode = "missing_column" if len(row) < width else "unknown_column"
            message = f"{_count(len(row), 'value')} for {width} columns {list(names)}"
            raise RowError(index, None, message, code=code)
    given: dict[str, Sequence[Any]] = dict(zip(names, zip(*rows, strict=True), strict=True))
    return {name: given.get(name) for name in schema.names}


def _as_object(index: int, row: object, schema: FeatureSchema) -> dict[str, object]:
    if type(row) is dict:
        return row
    if type(row) is list and schema.all_numeric:
        if len(row) != len(schema.columns):
            code: RowCode = "missing_column" if len(row) < len(schema.columns) else "unknown_column"
            message = (
                f"{_count(len(row), 'value')} for {len(schema.columns)} columns {schema.names}"
            )
            raise RowError(index, None, message, code=code)
        return dict(zip(schema.names, row, strict=True))
    raise RowError(index, None, _row_shape(schema), code="wrong_type")


def _complete(index: int, row: dict[str, object], schema: FeatureSchema) -> dict[str, object]:
    """The row with every column (None for a nullable one left out), or the first mistake."""
    for key in row:
        if schema.column(key) is None:
            raise RowError(index, key, "unknown column", code="unknown_column")
    if len(row) == len(schema.columns):
        return row
    for column in schema.columns:
        if column.name not in row and not column.nullable:
            message = "missing (a required column)"
            raise RowError(index, column.name, message, code="missing_column")
    return {name: row.get(name) for name in schema.names}


def _dataframe_split(value: object, schema: FeatureSchema, max_rows: int) -> TypedBatch:
    if not isinstance(value, dict) or not set(value) <= {"columns", "data", "index"}:
        message = "'dataframe_split' must be an object with 'columns' and 'data'"
        raise RowError(None, None, message, code="bad_body")
    names, data = value.get("columns"), value.get("data")
    if not isinstance(names, list) or not all(isinstance(name, str) for name in names):
        raise RowError(None, None, "'columns' must be a list of names", code="bad_body")
    if not isinstance(data, list):
        raise RowError(None, None, "'data' must be a list of rows", code="bad_body")
    if len(set(names)) != len(names):
        raise RowError(None, None, "'columns' names a column twice", code="bad_body")
    for name in names:
        if schema.column(name) is None:
            raise RowError(None, name, "unknown column", code="unknown_column")
    for column in schema.columns:
        if column.name not in names and not column.nullable:
            message = "missing (a required column)"
            raise RowError(None, column.name, message, code="missing_column")
    check_row_count(len(data), max_rows)
    return build_batch(schema, _positional(data, names, schema), len(data), "dataframe_split")


def _row_shape(schema: FeatureSchema) -> str:
    if schema.all_numeric:
        return f"a row must be an object by column name or a list of {len(schema.columns)} numbers"
    return "a row must be an object by column name"


def _count(number: int, noun: str) -> str:
    return f"{number} {noun}" if number == 1 else f"{number} {noun}s"
