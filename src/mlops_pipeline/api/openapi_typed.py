"""The OpenAPI shapes of a typed schema's requests: ``/predict`` bodies by column name, V2
named inputs, and the 400/413 answers naming a row and column.

Used only when the served schema is typed (serving/typed_requests.py's ``typed_schema``): an
all-numeric model's document is built exactly as before. Each column is a property with its JSON
type (``number``, ``integer``, ``boolean``, ``string`` bounded to the request limit) and
``nullable`` where ``null`` means missing; a required column is ``required`` in a row object.
String categories are listed as an example and in the description, not as an ``enum``: a value
outside them is answered (the model decides) and counted.
"""

from __future__ import annotations

from typing import Any

from mlops_pipeline.api.openapi_schemas import ERROR, STRING
from mlops_pipeline.errors import ROW_ERRORS
from mlops_pipeline.schema.model import MAX_STRING_LENGTH, Column, FeatureSchema
from mlops_pipeline.schema.v2_inputs import ACCEPTED_DATATYPES

JSON_TYPES = {"double": "number", "integer": "integer", "boolean": "boolean", "string": "string"}
SHOWN_CATEGORIES = 20  # of a string column's categories, in its description


def column_schema(column: Column) -> dict[str, Any]:
    """One column's value: its JSON type, ``nullable`` when ``null`` means missing."""
    schema: dict[str, Any] = {"type": JSON_TYPES[column.type]}
    if column.type == "string":
        schema["maxLength"] = MAX_STRING_LENGTH
        if column.categories:
            shown = list(column.categories[:SHOWN_CATEGORIES])
            more = len(column.categories) - len(shown)
            schema["description"] = f"seen in training: {', '.join(shown)}" + (
                f" and {more} more" if more else ""
            )
            schema["example"] = column.categories[0]
    if column.nullable:
        schema["nullable"] = True
    return schema


def typed_row(schema: FeatureSchema) -> dict[str, Any]:
    """A row as an object by column name; nullable columns may be left out (missing)."""
    row: dict[str, Any] = {
        "type": "object",
        "properties": {column.name: column_schema(column) for column in schema.columns},
        "additionalProperties": False,
    }
    required = [column.name for column in schema.columns if not column.nullable]
    if required:
        row["required"] = required
    return row


def typed_predict_body(schema: FeatureSchema) -> dict[str, Any]:
    """``features``, ``instances``, MLflow's ``dataframe_split`` and ``dataframe_records``."""
    row = typed_row(schema)
    rows = {"type": "array", "items": row, "minItems": 1}
    split = {
        "type": "object",
        "required": ["columns", "data"],
        "properties": {
            "columns": {"type": "array", "items": {"enum": list(schema.names)}},
            "data": {"type": "array", "items": {"type": "array"}, "minItems": 1},
        },
    }
    return {
        "oneOf": [
            _one_of_body("features", row),
            _one_of_body("instances", rows),
            _one_of_body("dataframe_split", split),
            _one_of_body("dataframe_records", rows),
        ]
    }


def _one_of_body(key: str, value: dict[str, Any]) -> dict[str, Any]:
    return {
        "type": "object",
        "required": [key],
        "properties": {key: value, "user_id": STRING},
    }


def row_error_answers() -> dict[str, Any]:
    """The 400 and 413 answers of a typed request, with the codes each can carry."""
    codes = sorted(code for code, error in ROW_ERRORS.items() if error.status == 400)
    too_big = sorted(code for code, error in ROW_ERRORS.items() if error.status == 413)
    return {
        "400": {
            "description": (
                "A value does not fit the schema; the message names the row and column. Codes: "
                + ", ".join(codes)
            ),
            "content": {"application/json": {"schema": ERROR}},
        },
        "413": {
            "description": f"Too many rows or too large a body. Codes: {', '.join(too_big)}",
            "content": {"application/json": {"schema": ERROR}},
        },
    }


def typed_infer_body(schema: FeatureSchema) -> dict[str, Any]:
    """V2 infer: one named input per column, each ``[N]`` or ``[N, 1]``."""
    datatypes = sorted({d for column in schema.columns for d in ACCEPTED_DATATYPES[column.type]})
    tensor = {
        "type": "object",
        "required": ["name", "shape", "datatype"],
        "properties": {
            "name": {"enum": list(schema.names)},
            "shape": {"type": "array", "items": {"type": "integer"}},
            "datatype": {"enum": datatypes},
            "data": {"type": "array"},
            "parameters": {"type": "object"},
        },
    }
    return {
        "type": "object",
        "required": ["inputs"],
        "properties": {"id": STRING, "inputs": {"type": "array", "items": tensor}},
    }
