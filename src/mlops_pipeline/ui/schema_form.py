"""The Predict form generated from the served feature schema (GET /models).

A number input per double or integer column (integers step by 1); a select box of the training
categories per string column (a text field when none are known); a checkbox per boolean column
(a select box when nullable); and a "missing" choice for every nullable column, sent as ``null``.
A bundle without a schema, or one whose columns are all required doubles (Iris), keeps the plain
numeric form."""

from __future__ import annotations

from typing import Any

import streamlit as st

MISSING = "(missing)"
NUMERIC = ("double", "integer")


def needs_typed_form(schema: dict[str, Any] | None) -> bool:
    """Whether the schema asks for more than a row of required doubles (the Iris form)."""
    if schema is None:
        return False
    columns: list[dict[str, Any]] = schema.get("columns", [])
    return any(c.get("type") != "double" or c.get("nullable", False) for c in columns)


def missing_label(options: list[str]) -> str:
    """The "missing" choice's label, never one of the column's own categories."""
    label = MISSING
    while label in options:
        label = f"({label})"
    return label


def label_of(name: str) -> str:
    return name.replace("_", " ")


def _range_help(info: dict[str, Any] | None) -> str | None:
    if info is None:
        return None
    return f"training range {info['min']:g} to {info['max']:g}"


def _number(column: dict[str, Any], info: dict[str, Any] | None, where: Any) -> Any:
    name = column["name"]
    if column["type"] == "integer":
        start = round(float(info["mean"])) if info else 0
        return where.number_input(
            label_of(name), value=int(start), step=1, format="%d",
            help=_range_help(info), key=f"feature_{name}",
        )  # fmt: skip
    start_value = round(float(info["mean"]), 1) if info else 0.0
    return where.number_input(
        label_of(name), value=start_value, step=0.1, format="%.1f",
        help=_range_help(info), key=f"feature_{name}",
    )  # fmt: skip


def _choice(column: dict[str, Any], where: Any) -> Any:
    """A select box (strings, nullable booleans) or a checkbox (required booleans)."""
    name = column["name"]
    nullable = bool(column.get("nullable", False))
    if column["type"] == "boolean":
        if not nullable:
            return where.checkbox(label_of(name), key=f"feature_{name}")
        options = ["true", "false"]
    else:
        options = [str(c) for c in column.get("categories") or []]
        if not options:  # no known categories: free text, empty meaning missing when nullable
            text = where.text_input(label_of(name), key=f"feature_{name}")
            return None if nullable and not text else text
    missing = missing_label(options)
    choices = [*options, missing] if nullable else options
    picked = where.selectbox(
        label_of(name),
        choices,
        index=len(choices) - 1 if nullable else 0,  # nullable columns start out missing
        key=f"feature_{name}",
    )
    if picked is None or (nullable and picked == missing):
        return None
    if column["type"] == "boolean":
        return picked == "true"
    return picked


def typed_form_values(schema: dict[str, Any], ranges: dict[str, dict[str, Any]]) -> dict[str, Any]:
    """Draw the inputs (inside the caller's form) and return the row by column name, ``None``
    for a column left missing."""
    columns = st.columns(2)
    row: dict[str, Any] = {}
    for index, column in enumerate(schema["columns"]):
        where = columns[index % 2]
        name = column["name"]
        if column["type"] in NUMERIC:
            value = _number(column, ranges.get(name), where)
            if column.get("nullable", False) and where.checkbox(
                f"{label_of(name)} missing", key=f"missing_{name}"
            ):
                value = None
            row[name] = value
        else:
            row[name] = _choice(column, where)
    return row
