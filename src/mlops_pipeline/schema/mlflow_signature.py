"""A FeatureSchema to and from an MLflow column-based signature, as an ``MLmodel`` file holds it.

An MLflow model directory's ``MLmodel`` (YAML) carries::

    signature:
      inputs: '[{"type": "string", "name": "island", "required": true}, ...]'
      outputs: '[{"type": "string", "name": "species", "required": true}]'

where each string is JSON. Column types map to ours (MLflow's ``integer`` is 32-bit and
``float`` single precision: both widen without loss):

========================== ==============
MLflow column type         column type
========================== ==============
``double``, ``float``      ``double``
``long``, ``integer``      ``integer`` (written as ``long``: MLflow's 64-bit integer)
``boolean``                ``boolean``
``string``                 ``string``
========================== ==============

``binary``, ``datetime``, arrays, objects, maps and tensor-based signatures have no serving
type and are refused, naming the column. ``required: false`` is a nullable column. Signatures
hold no categories (reading gives none: the sample or the schema file adds them) and no class
names (the caller gives the task, from the model or its sample).

No ``mlflow`` import: reading a model must not run its code (an MLflow import may load plugins
and the model's flavour). The YAML is read with PyYAML's ``safe_load`` when PyYAML is installed
(it builds plain values only, never objects a tag names); without it, the signature's JSON
strings are read directly (:func:`columns_from_signature`).
"""

from __future__ import annotations

import importlib
import json
from collections.abc import Callable
from typing import Any

from mlops_pipeline.schema.model import Column, ColumnType, FeatureSchema, SchemaError, Task

MLFLOW_COLUMN_TYPES: dict[str, ColumnType] = {
    "double": "double",
    "float": "double",
    "long": "integer",
    "integer": "integer",
    "boolean": "boolean",
    "string": "string",
}
WRITTEN_TYPES: dict[ColumnType, str] = {
    "double": "double",
    "integer": "long",
    "boolean": "boolean",
    "string": "string",
}


def columns_from_signature(inputs: str | list[Any]) -> tuple[Column, ...]:
    """The columns of a signature's ``inputs`` (its JSON string, or that string parsed)."""
    specs = _json(inputs, "inputs") if isinstance(inputs, str) else inputs
    if not isinstance(specs, list) or not specs:
        raise SchemaError("the signature's inputs must be a non-empty list of columns")
    columns = []
    for index, spec in enumerate(specs):
        if not isinstance(spec, dict):
            raise SchemaError(f"signature input {index} must be an object")
        if spec.get("type") == "tensor":
            tensor = spec.get("tensor-spec", {})
            raise SchemaError(
                f"the signature is tensor-based ({tensor.get('dtype')} tensor of shape"
                f" {tensor.get('shape')}): a model on tabular data needs a column-based signature"
                " (mlflow.models.infer_signature on a pandas DataFrame), or give a schema file"
            )
        name = spec.get("name")
        if not isinstance(name, str) or not name:
            raise SchemaError(f"signature input {index} has no name: serving needs named columns")
        kind = spec.get("type")
        if not isinstance(kind, str) or kind not in MLFLOW_COLUMN_TYPES:
            shown = kind if isinstance(kind, str) else json.dumps(kind)[:60]
            raise SchemaError(
                f"column {name!r}: MLflow type {shown} has no serving type"
                f" (one of {sorted(MLFLOW_COLUMN_TYPES)})"
            )
        required = spec.get("required", True)  # MLflow before 2.x wrote no "required": all were
        if not isinstance(required, bool):
            raise SchemaError(f"column {name!r}: 'required' must be true or false")
        columns.append(Column(name, MLFLOW_COLUMN_TYPES[kind], nullable=not required))
    return tuple(columns)


def read_mlmodel_signature(text: str) -> dict[str, str]:
    """The signature block (``inputs``, and ``outputs`` when present) of an MLmodel file."""
    load, errors = _yaml()
    try:
        document = load(text)
    except errors as error:
        raise SchemaError(f"the MLmodel file is not plain YAML: {str(error)[:200]}") from None
    if not isinstance(document, dict):
        raise SchemaError("the MLmodel file must be a YAML mapping")
    signature = document.get("signature")
    if not isinstance(signature, dict) or not signature.get("inputs"):
        raise SchemaError("the MLmodel has no input signature: give a schema file instead")
    block = {key: signature[key] for key in ("inputs", "outputs") if signature.get(key)}
    if not all(isinstance(value, str) for value in block.values()):
        raise SchemaError("the MLmodel's signature inputs and outputs must be JSON strings")
    return block


def schema_from_mlmodel(text: str, task: Task) -> FeatureSchema:
    """The schema of an MLmodel file's signature, with the task the caller knows."""
    return FeatureSchema(columns_from_signature(read_mlmodel_signature(text)["inputs"]), task)


def signature_inputs(schema: FeatureSchema) -> str:
    """The ``inputs`` JSON string MLflow writes for these columns (MLflow's own key order)."""
    return json.dumps(
        [
            {
                "type": WRITTEN_TYPES[column.type],
                "name": column.name,
                "required": not column.nullable,
            }
            for column in schema.columns
        ]
    )


def signature_outputs(schema: FeatureSchema) -> str:
    """One column named for the target: the class name (string) or, for regression, a double."""
    kind = "string" if schema.task.kind == "classification" else "double"
    return json.dumps([{"type": kind, "name": schema.task.target, "required": True}])


def to_signature(schema: FeatureSchema) -> dict[str, str]:
    """The ``signature`` block of an MLmodel file for this schema."""
    return {"inputs": signature_inputs(schema), "outputs": signature_outputs(schema)}


def _json(text: str, what: str) -> Any:
    try:
        return json.loads(text)
    except ValueError as error:
        raise SchemaError(f"the signature's {what} is not JSON: {error}") from None


def _yaml() -> tuple[Callable[[str], object], type[Exception]]:
    """PyYAML's safe_load and its error type; imported here, as only MLmodel files need it."""
    try:
        yaml = importlib.import_module("yaml")
    except ImportError:
        raise SchemaError(
            "reading an MLmodel file needs PyYAML (pip install pyyaml); without it, pass the"
            " signature's inputs JSON string"
        ) from None
    return yaml.safe_load, yaml.YAMLError
