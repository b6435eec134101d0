"""schema/rows.py: typed request rows -> typed columns; every mistake names its row and column."""

from __future__ import annotations

import math

import numpy as np
import pytest

from mlops_pipeline.schema.bodies import batch_from_body
from mlops_pipeline.schema.model import MAX_STRING_LENGTH, Column, FeatureSchema, Task
from mlops_pipeline.schema.rows import RowError, TypedBatch

PENGUINS = FeatureSchema(
    (
        Column("island", "string", False, ("Biscoe", "Dream", "Torgersen")),
        Column("bill_length_mm", "double", nullable=True),
        Column("sex", "string", True, ("female", "male")),
        Column("year", "integer"),
        Column("tagged", "boolean", nullable=True),
    ),
    Task(classes=("Adelie", "Chinstrap", "Gentoo"), target="species"),
)
IRIS = FeatureSchema(
    (
        Column("sepal_length", "double"),
        Column("sepal_width", "double"),
        Column("petal_length", "double"),
        Column("petal_width", "double"),
    ),
    Task(classes=("setosa", "versicolor", "virginica"), target="species"),
)
ROW = {"island": "Dream", "bill_length_mm": 39.5, "sex": "female", "year": 2007, "tagged": True}


def parse(body: object, schema: FeatureSchema = PENGUINS, max_rows: int = 100) -> TypedBatch:
    return batch_from_body(body, schema, max_rows)


def refused(body: object, schema: FeatureSchema = PENGUINS, max_rows: int = 100) -> RowError:
    with pytest.raises(RowError) as caught:
        parse(body, schema, max_rows)
    return caught.value


def test_one_object_row_becomes_typed_columns() -> None:
    batch = parse({"features": ROW})
    assert batch.n_rows == 1
    assert batch.form == "features"
    assert list(batch.columns) == PENGUINS.names  # schema order, whatever the body's order
    assert batch.columns["island"].dtype == object
    assert batch.columns["island"].tolist() == ["Dream"]
    assert batch.columns["bill_length_mm"].dtype == np.float64
    assert batch.columns["bill_length_mm"].tolist() == [39.5]
    assert batch.columns["year"].dtype == np.int64
    assert batch.columns["year"].tolist() == [2007]
    assert batch.columns["tagged"].dtype == np.bool_
    assert batch.columns["tagged"].tolist() == [True]
    # Only nullable columns have a mask; nothing is missing here.
    assert sorted(batch.missing) == ["bill_length_mm", "sex", "tagged"]
    assert not any(mask.any() for mask in batch.missing.values())
    assert batch.unseen == {"island": 0, "sex": 0}


def test_nulls_and_left_out_nullable_columns_are_missing() -> None:
    rows = [
        {"island": "Biscoe", "bill_length_mm": None, "sex": None, "year": 2008, "tagged": None},
        {"island": "Dream", "year": 2009},  # nullable columns left out: missing
        ROW,
    ]
    batch = parse({"instances": rows})
    assert batch.n_rows == 3
    assert batch.missing["bill_length_mm"].tolist() == [True, True, False]
    assert batch.missing["sex"].tolist() == [True, True, False]
    assert batch.missing["tagged"].tolist() == [True, True, False]
    # Placeholders where missing: NaN for double, "" for string, False for boolean.
    values = batch.columns["bill_length_mm"].tolist()
    assert math.isnan(values[0])
    assert math.isnan(values[1])
    assert values[2] == 39.5
    assert batch.columns["sex"].tolist() == ["", "", "female"]
    assert batch.columns["tagged"].tolist() == [False, False, True]
    assert batch.unseen == {"island": 0, "sex": 0}  # missing is not "unseen"


def test_unseen_categories_are_answered_and_counted() -> None:
    rows = [
        {**ROW, "island": "Mars"},
        {**ROW, "island": "Biscoe", "sex": "unknown"},
        {**ROW, "island": "mars"},  # case matters: "mars" is not "Mars" nor a category
        ROW,
    ]
    batch = parse({"dataframe_records": rows})
    assert batch.form == "dataframe_records"
    assert batch.columns["island"].tolist() == ["Mars", "Biscoe", "mars", "Dream"]
    assert batch.unseen == {"island": 2, "sex": 1}


def test_dataframe_split_in_any_column_order() -> None:
    body = {
        "dataframe_split": {
            "columns": ["year", "island", "sex"],  # bill_length_mm and tagged left out
            "data": [[2007, "Torgersen", "male"], [2008, "Biscoe", None]],
            "index": [10, 11],
        }
    }
    batch = parse(body)
    assert batch.form == "dataframe_split"
    assert batch.n_rows == 2
    assert batch.columns["year"].tolist() == [2007, 2008]
    assert batch.columns["island"].tolist() == ["Torgersen", "Biscoe"]
    assert batch.missing["sex"].tolist() == [False, True]
    assert batch.missing["bill_length_mm"].tolist() == [True, True]
    assert batch.missing["tagged"].tolist() == [True, True]


def test_positional_rows_only_for_an_all_numeric_schema() -> None:
    batch = parse({"features": [5.1, 3.5, 1, 0.2]}, IRIS)
    assert batch.columns["petal_length"].dtype == np.float64
    assert [batch.columns[name][0] for name in IRIS.names] == [5.1, 3.5, 1.0, 0.2]
    mixed = parse(
        {"instances": [[5.1, 3.5, 1.4, 0.2], dict(zip(IRIS.names, [6, 3, 4, 1], strict=True))]},
        IRIS,
    )
    assert mixed.columns["sepal_length"].tolist() == [5.1, 6.0]
    error = refused({"features": ["Dream", 39.5, "female", 2007, True]})
    assert (error.code, error.row, error.column) == ("wrong_type", 0, None)
    assert str(error) == "row 0: a row must be an object by column name"
    error = refused({"instances": [[5.1, 3.5, 1.4, 0.2], [1, 2, 3]]}, IRIS)
    assert (error.code, error.row) == ("missing_column", 1)
    assert str(error).startswith("row 1: 3 values for 4 columns")
    error = refused({"features": [1, 2, 3, 4, 5]}, IRIS)
    assert error.code == "unknown_column"


@pytest.mark.parametrize(
    ("row", "code", "message"),
    [
        ({**ROW, "sex": 1}, "wrong_type", "row 0, column 'sex': expected a string, got 1"),
        (
            {**ROW, "island": None},
            "null_in_required",
            "row 0, column 'island': null in a required column",
        ),
        (
            {key: value for key, value in ROW.items() if key != "year"},
            "missing_column",
            "row 0, column 'year': missing (a required column)",
        ),
        ({**ROW, "beak": 1}, "unknown_column", "row 0, column 'beak': unknown column"),
        # A JSON boolean is not a number, and a number is not a boolean.
        (
            {**ROW, "bill_length_mm": True},
            "wrong_type",
            "row 0, column 'bill_length_mm': expected a number, got true",
        ),
        (
            {**ROW, "year": False},
            "wrong_type",
            "row 0, column 'year': expected an integer, got false",
        ),
        (
            {**ROW, "tagged": 1},
            "wrong_type",
            "row 0, column 'tagged': expected true or false, got 1",
        ),
        ({**ROW, "year": 2007.5}, "wrong_type", "row 0, column 'year': 2007.5 is not an integer"),
        (
            {**ROW, "year": "2007"},
            "wrong_type",
            "row 0, column 'year': expected an integer, got '2007'",
        ),
        (
            {**ROW, "year": 2**63},
            "wrong_type",
            "row 0, column 'year': 9223372036854775808 is outside the 64-bit integer range",
        ),
        (
            {**ROW, "bill_length_mm": float("nan")},
            "non_finite",
            "row 0, column 'bill_length_mm': nan is not a finite number",
        ),
        (
            {**ROW, "bill_length_mm": float("-inf")},
            "non_finite",
            "row 0, column 'bill_length_mm': -inf is not a finite number",
        ),
        (
            {**ROW, "year": float("inf")},
            "non_finite",
            "row 0, column 'year': inf is not a finite number",
        ),
        (
            {**ROW, "bill_length_mm": 10**400},
            "non_finite",
            "row 0, column 'bill_length_mm': number too large",
        ),
        (
            {**ROW, "island": "x" * (MAX_STRING_LENGTH + 1)},
            "string_too_long",
            "row 0, column 'island': 257 characters; at most 256",
        ),
        (
            {**ROW, "sex": ["male"]},
            "wrong_type",
            "row 0, column 'sex': expected a string, got a list",
        ),
    ],
)
def test_each_mistake_names_its_row_and_column(
    row: dict[str, object], code: str, message: str
) -> None:
    error = refused({"features": row})
    assert (error.code, str(error)) == (code, message)
    assert isinstance(error, ValueError)


def test_the_first_bad_row_is_named() -> None:
    rows = [ROW, ROW, ROW, {**ROW, "sex": 0}, {**ROW, "sex": 1}]
    error = refused({"instances": rows})
    assert (error.row, error.column, error.code) == (3, "sex", "wrong_type")
    assert str(error) == "row 3, column 'sex': expected a string, got 0"
    rows = [ROW, {"island": "Dream", "year": 2008, "wing": 3}]
    error = refused({"instances": rows})
    assert (error.row, error.column, error.code) == (1, "wing", "unknown_column")


def test_integral_floats_pass_as_integers_and_ints_as_doubles() -> None:
    batch = parse({"instances": [{**ROW, "year": 2008.0, "bill_length_mm": 40}, ROW]})
    assert batch.columns["year"].tolist() == [2008, 2007]
    assert batch.columns["year"].dtype == np.int64
    assert batch.columns["bill_length_mm"].tolist() == [40.0, 39.5]
    assert batch.columns["bill_length_mm"].dtype == np.float64


def test_row_limits() -> None:
    error = refused({"instances": [ROW] * 4}, max_rows=3)
    assert (error.code, error.row, error.column) == ("too_many_rows", None, None)
    assert str(error) == "4 rows; at most 3 are accepted in one request"
    split = {"dataframe_split": {"columns": ["island", "year"], "data": [["Dream", 1]] * 4}}
    assert refused(split, max_rows=3).code == "too_many_rows"
    assert parse({"instances": [ROW] * 3}, max_rows=3).n_rows == 3
    assert refused({"instances": []}).code == "bad_body"


@pytest.mark.parametrize(
    ("body", "message"),
    [
        ([ROW], "the body must be a JSON object"),
        ({"rows": [ROW]}, "send exactly one of"),
        ({"features": ROW, "instances": [ROW]}, "send exactly one of"),
        ({"instances": ROW}, "'instances' must be a list of rows"),
        ({"dataframe_split": {"columns": ["island"]}}, "'data' must be a list of rows"),
        ({"dataframe_split": {"columns": "island", "data": []}}, "'columns' must be a list"),
        ({"dataframe_split": {"columns": [], "data": [], "x": 1}}, "'dataframe_split' must be"),
        ({"dataframe_split": {"columns": ["year", "year"], "data": []}}, "names a column twice"),
    ],
)
def test_body_shape_mistakes(body: object, message: str) -> None:
    error = refused(body)
    assert error.code == "bad_body"
    assert message in str(error)


def test_dataframe_split_and_records_mistakes() -> None:
    split = {"dataframe_split": {"columns": ["island", "wing"], "data": [["Dream", 1]]}}
    error = refused(split)
    assert (error.code, str(error)) == ("unknown_column", "column 'wing': unknown column")
    split = {"dataframe_split": {"columns": ["island"], "data": [["Dream"]]}}
    assert str(refused(split)) == "column 'year': missing (a required column)"
    split = {"dataframe_split": {"columns": ["island", "year"], "data": [["Dream", 1], "x"]}}
    assert str(refused(split)) == "row 1: a row of 'data' must be a list"
    split = {"dataframe_split": {"columns": ["island", "year"], "data": [["Dream", 1, 2]]}}
    assert refused(split).code == "unknown_column"
    error = refused({"dataframe_records": [ROW, [1, 2]]})
    assert (error.row, str(error)) == (1, "row 1: a record must be an object")


def test_long_client_names_are_cut_in_messages() -> None:
    error = refused({"features": {**ROW, "w" * 1000: 1}})
    assert error.column == "w" * 1000
    assert len(str(error)) < 80


def test_a_single_column_schema() -> None:
    schema = FeatureSchema((Column("x", "double"),), Task(classes=("a", "b")))
    assert parse({"instances": [{"x": 1}, {"x": 2.5}]}, schema).columns["x"].tolist() == [1.0, 2.5]
    assert parse({"instances": [[1], [2.5]]}, schema).columns["x"].tolist() == [1.0, 2.5]
    assert refused({"instances": [{"x": 1}, {"y": 2}]}, schema).code == "unknown_column"


def test_non_finite_found_in_a_large_batch() -> None:
    # Past 16 rows the finite check is numpy's; the first bad row is still named.
    rows = [ROW] * 20 + [{**ROW, "bill_length_mm": float("inf")}, {**ROW, "bill_length_mm": None}]
    error = refused({"instances": rows})
    assert (error.code, str(error)) == (
        "non_finite",
        "row 20, column 'bill_length_mm': inf is not a finite number",
    )
    batch = parse({"instances": rows[:20] + rows[21:]})
    assert batch.missing["bill_length_mm"].tolist() == [False] * 20 + [True]
