"""schema/infer.py: a FeatureSchema from a training DataFrame: Palmer Penguins and small frames."""

from __future__ import annotations

import io
from importlib.resources import files

import numpy as np
import pandas as pd
import pytest

from mlops_pipeline.schema.infer import infer_schema
from mlops_pipeline.schema.model import MAX_CATEGORIES, Column, FeatureSchema, SchemaError, Task


def penguins() -> pd.DataFrame:
    # The CSV the package ships, read as `mlops train --data` would read any CSV.
    return pd.read_csv(
        io.StringIO(files("palmerpenguins").joinpath("data/penguins.csv").read_text())
    )


def test_palmer_penguins() -> None:
    frame = penguins()
    # The facts the expected schema rests on, counted in the published data set (344 rows):
    # 2 rows without measurements, 11 without sex, year always present.
    assert len(frame) == 344
    assert frame.isna().sum().to_dict() == {
        "species": 0,
        "island": 0,
        "bill_length_mm": 2,
        "bill_depth_mm": 2,
        "flipper_length_mm": 2,
        "body_mass_g": 2,
        "sex": 11,
        "year": 0,
    }
    assert infer_schema(frame, "species") == FeatureSchema(
        (
            Column("island", "string", False, ("Biscoe", "Dream", "Torgersen")),
            Column("bill_length_mm", "double", True),
            Column("bill_depth_mm", "double", True),
            # Whole millimetres and grams, read as float for the missing rows: double.
            Column("flipper_length_mm", "double", True),
            Column("body_mass_g", "double", True),
            Column("sex", "string", True, ("female", "male")),
            Column("year", "integer", False),
        ),
        Task("classification", ("Adelie", "Chinstrap", "Gentoo"), "species"),
    )


def test_penguins_overrides_from_a_versions_file() -> None:
    overrides = {
        "flipper_length_mm": {"type": "integer"},
        "sex": {"categories": ["female", "male", "other"]},
        "year": {"nullable": True},
    }
    schema = infer_schema(penguins(), "species", overrides=overrides)
    assert schema.column("flipper_length_mm") == Column("flipper_length_mm", "integer", True)
    assert schema.column("sex") == Column("sex", "string", True, ("female", "male", "other"))
    assert schema.column("year") == Column("year", "integer", True)


def read(text: str) -> pd.DataFrame:
    return pd.read_csv(io.StringIO(text))


def test_types_from_a_csv() -> None:
    frame = read(
        "ratio,count,whole,flag,maybe,colour,label\n"
        "0.5,1,1.0,True,True,red,a\n"
        "1.5,2,,False,,blue,b\n"
        "2.5,3,3.0,True,False,,a\n"
    )
    schema = infer_schema(frame, "label")
    assert schema.columns == (
        Column("ratio", "double", False),
        Column("count", "integer", False),
        Column("whole", "double", True),  # float with a gap: double though 1.0 and 3.0 are whole
        Column("flag", "boolean", False),
        Column("maybe", "boolean", True),  # read as object (True, NaN, False)
        Column("colour", "string", True, ("blue", "red")),
    )
    assert schema.task == Task("classification", ("a", "b"), "label")


def test_types_from_pandas_dtypes() -> None:
    frame = pd.DataFrame(
        {
            "n": pd.Series([1, None, 3], dtype="Int64"),
            "b": pd.Series([True, None, False], dtype="boolean"),
            "f": pd.Series([1.5, None, 2.0], dtype="Float64"),
            "u": np.array([1, 2, 3], dtype=np.uint8),
            "c": pd.Series(["x", "y", "x"], dtype="category"),
            "objects": pd.Series([1, 2.5, None], dtype=object),  # ints and floats: numbers
            "y": [0, 1, 0],
        }
    )
    assert infer_schema(frame, "y").columns == (
        Column("n", "integer", True),
        Column("b", "boolean", True),
        Column("f", "double", True),
        Column("u", "integer", False),
        Column("c", "string", False, ("x", "y")),
        Column("objects", "double", True),
    )


def test_class_names_in_the_targets_own_order() -> None:
    # Numbers sort as numbers (as scikit-learn's classes_ do): 2 before 10, then become text.
    frame = pd.DataFrame({"x": [1.0] * 5, "y": [10, 2, 1, 2, 10]})
    assert infer_schema(frame, "y").task.classes == ("1", "2", "10")
    frame = pd.DataFrame({"x": [1.0] * 4, "y": ["b", None, "a", "b"]})  # unlabelled row: no class
    assert infer_schema(frame, "y").task.classes == ("a", "b")
    frame = pd.DataFrame({"x": [1.0] * 2, "y": [True, False]})
    assert infer_schema(frame, "y").task.classes == ("False", "True")
    frame = pd.DataFrame({"x": [1.0] * 3, "y": ["a", "a", None]})
    with pytest.raises(SchemaError, match=r"target 'y': classification needs two classes"):
        infer_schema(frame, "y")


def test_regression_when_told() -> None:
    frame = pd.DataFrame({"x": ["a", "b"], "price": [1.5, 2.0]})
    assert infer_schema(frame, "price", task="regression").task == Task("regression", (), "price")
    with pytest.raises(SchemaError, match="regression needs numbers"):
        infer_schema(frame, "x", task="regression")


def test_too_many_categories_names_the_column() -> None:
    frame = pd.DataFrame(
        {"id": [f"user{i}" for i in range(MAX_CATEGORIES + 1)], "y": [0, 1] * 500 + [0]}
    )
    with pytest.raises(SchemaError, match=r"column 'id': 1001 distinct values, more than 1000"):
        infer_schema(frame, "y")
    frame = pd.DataFrame({"id": [f"user{i}" for i in range(MAX_CATEGORIES)], "y": [0, 1] * 500})
    assert len(infer_schema(frame, "y").columns[0].categories) == MAX_CATEGORIES


@pytest.mark.parametrize(
    ("frame", "message"),
    [
        (pd.DataFrame({"x": [1.0, 2.0], "z": [0, 1]}), r"no target column 'y'"),
        (pd.DataFrame({"x": [], "y": []}), "no rows"),
        (pd.DataFrame({"x": [1, "a"], "y": [0, 1]}), r"column 'x': values of mixed kinds"),
        (pd.DataFrame({"x": [None, None], "y": [0, 1]}), r"column 'x': no values, so no type"),
        (
            pd.DataFrame({"x": pd.to_datetime(["2020-01-01", "2021-01-01"]), "y": [0, 1]}),
            r"column 'x': datetime64.* convert to numbers or strings",
        ),
        (pd.DataFrame({"x": [1.0, np.inf], "y": [0, 1]}), "column 'x': infinite values"),
        (pd.DataFrame({"x": ["a" * 257, "b"], "y": [0, 1]}), r"column 'x': a value of 257"),
        (pd.DataFrame({0: [1.0, 2.0], "y": [0, 1]}), "distinct column names"),
        (pd.DataFrame({"x": [1.0, 2.0], "y": [1, "1"]}), "not distinct as text"),
    ],
)
def test_refusals(frame: pd.DataFrame, message: str) -> None:
    with pytest.raises(SchemaError, match=message):
        infer_schema(frame, "y")


FRAME = pd.DataFrame(
    {
        "size": [1.0, None, 3.0],
        "ratio": [0.5, 1.5, 2.0],
        "code": [7, 42, 7],
        "colour": ["red", "blue", None],
        "flag": [True, False, True],
        "empty": [None, None, None],
        "y": ["a", "b", "a"],
    }
)


def test_overrides_type_what_inference_cannot() -> None:
    overrides = {
        "size": {"type": "integer"},  # whole floats with a gap: a nullable integer
        "code": {"type": "string"},  # codes, not quantities: "7", not "7.0"
        "empty": {"type": "double", "nullable": True},
        "ratio": {"nullable": True},
    }
    columns = infer_schema(FRAME, "y", overrides=overrides).columns
    assert columns == (
        Column("size", "integer", True),
        Column("ratio", "double", True),
        Column("code", "string", False, ("42", "7")),
        Column("colour", "string", True, ("blue", "red")),
        Column("flag", "boolean", False),
        Column("empty", "double", True),
    )


@pytest.mark.parametrize(
    ("overrides", "message"),
    [
        ({"ratio": {"type": "integer"}}, r"column 'ratio': values with a fraction"),
        (
            {"size": {"nullable": False}},
            r"column 'size': nullable = false, but it is missing in 1 of 3 rows",
        ),
        ({"colour": {"categories": ["red"]}}, r"column 'colour': categories leave out \['blue'\]"),
        ({"code": {"categories": ["7"]}}, r"'code': only string columns have categories"),
        ({"colour": {"type": "boolean"}}, r"column 'colour': not every value is true or false"),
        ({"colour": {"type": "double"}}, r"column 'colour': not every value is a number"),
        ({"ratio": {"type": "string"}}, r"column 'ratio': only text or whole numbers"),
        ({"wing": {"type": "double"}}, r"no column 'wing'"),
        ({"y": {"type": "string"}}, r"'y' is the target"),
        ({"size": {"type": "float"}}, r"type must be one of"),
        ({"size": {"kind": "double"}}, r"overrides for 'size': only"),
        ({"size": {"nullable": "yes"}}, r"nullable must be true or false"),
        ({"colour": {"categories": "red"}}, r"categories must be a list of strings"),
        ({}, r"column 'empty': no values"),  # without an override the empty column is refused
    ],
)
def test_overrides_are_checked_against_the_data(
    overrides: dict[str, dict[str, object]], message: str
) -> None:
    if "empty" not in overrides and message != r"column 'empty': no values":
        overrides = {**overrides, "empty": {"type": "string", "nullable": True}}
    with pytest.raises(SchemaError, match=message):
        infer_schema(FRAME, "y", overrides=overrides)
