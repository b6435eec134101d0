"""schema/compare.py: each difference that refuses a candidate, spelled out; categories: notes."""

from __future__ import annotations

from dataclasses import replace

from mlops_pipeline.schema.compare import category_notes, schema_differences
from mlops_pipeline.schema.model import Column, FeatureSchema, Task

ISLAND = Column("island", "string", False, ("Biscoe", "Dream", "Torgersen"))
BILL = Column("bill_length_mm", "double", True)
SEX = Column("sex", "string", True, ("female", "male"))
YEAR = Column("year", "integer")
TASK = Task("classification", ("Adelie", "Chinstrap", "Gentoo"), "species")
SERVED = FeatureSchema((ISLAND, BILL, SEX, YEAR), TASK)


def test_the_same_schema_has_no_differences() -> None:
    same = FeatureSchema.from_json(SERVED.to_json())
    assert schema_differences(SERVED, same) == []
    assert category_notes(SERVED, same) == []


def test_type_and_nullability_per_column() -> None:
    candidate = FeatureSchema(
        (ISLAND, replace(BILL, nullable=False), replace(SEX, type="integer", categories=()), YEAR),
        TASK,
    )
    assert schema_differences(SERVED, candidate) == [
        "column 'bill_length_mm': nullable here, required in the candidate",
        "column 'sex': type string here, integer in the candidate",
    ]


def test_missing_extra_and_reordered_columns() -> None:
    candidate = FeatureSchema((YEAR, BILL, ISLAND, Column("wing", "double")), TASK)
    assert schema_differences(SERVED, candidate) == [
        "column 'sex' is missing in the candidate",
        "column 'wing' is only in the candidate",
        # Order among the shared columns only: the missing and extra ones are said above.
        "column order: ['island', 'bill_length_mm', 'year'] here,"
        " ['year', 'bill_length_mm', 'island'] in the candidate",
    ]
    only_extra = FeatureSchema((ISLAND, BILL, SEX, YEAR, Column("wing", "double")), TASK)
    assert schema_differences(SERVED, only_extra) == ["column 'wing' is only in the candidate"]


def test_task_and_classes() -> None:
    regression = FeatureSchema(SERVED.columns, Task("regression", (), "species"))
    assert schema_differences(SERVED, regression) == [
        "task: classification here, regression in the candidate"
    ]
    reordered = FeatureSchema(
        SERVED.columns, replace(TASK, classes=("Gentoo", "Adelie", "Chinstrap"))
    )
    assert schema_differences(SERVED, reordered) == [
        "class order: ['Adelie', 'Chinstrap', 'Gentoo'] here,"
        " ['Gentoo', 'Adelie', 'Chinstrap'] in the candidate"
    ]
    other = FeatureSchema(SERVED.columns, replace(TASK, classes=("Adelie", "Emperor", "Gentoo")))
    assert schema_differences(SERVED, other) == [
        "classes: ['Adelie', 'Chinstrap', 'Gentoo'] here, ['Adelie', 'Emperor', 'Gentoo'] in the"
        " candidate (['Chinstrap'] missing in the candidate; ['Emperor'] only in the candidate)"
    ]


def test_categories_and_target_are_notes_not_differences() -> None:
    candidate = FeatureSchema(
        (replace(ISLAND, categories=("Biscoe", "Dream", "Anvers")), BILL, SEX, YEAR),
        replace(TASK, target="penguin"),
    )
    assert schema_differences(SERVED, candidate) == []
    assert category_notes(SERVED, candidate) == [
        "column 'island': categories only in the candidate: ['Anvers']",
        "column 'island': categories only here: ['Torgersen']",
        "target: 'species' here, 'penguin' in the candidate",
    ]


def test_long_lists_are_cut() -> None:
    many = tuple(f"c{i:02}" for i in range(25))
    served = FeatureSchema((Column("x", "string", False, many[:5]),), TASK)
    candidate = FeatureSchema((Column("x", "string", False, many),), TASK)
    assert category_notes(served, candidate) == [
        "column 'x': categories only in the candidate: ['c05', 'c06', 'c07', 'c08', 'c09', 'c10',"
        " 'c11', 'c12', 'c13', 'c14'] and 10 more"
    ]
