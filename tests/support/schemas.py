"""Schemas shared by unit tests: one column of every type, required and nullable."""

from __future__ import annotations

from mlops_pipeline.schema.model import Column, FeatureSchema, Task

# Penguin-like: two string columns (one nullable), and each number type both ways.
EVERY_TYPE = FeatureSchema(
    (
        Column("island", "string", False, ("Biscoe", "Dream", "Torgersen")),
        Column("sex", "string", True, ("female", "male")),
        Column("bill", "double", nullable=True),
        Column("mass", "double"),
        Column("year", "integer"),
        Column("rings", "integer", nullable=True),
        Column("tagged", "boolean"),
        Column("banded", "boolean", nullable=True),
    ),
    Task(classes=("Adelie", "Chinstrap", "Gentoo"), target="species"),
)
