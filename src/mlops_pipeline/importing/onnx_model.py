"""An ONNX file plus its schema file (``FeatureSchema.to_json()``): already converted, so the
import checks that its inputs and outputs are the ones the schema's serving path feeds and
reads, and measures it against itself on the sample (that it loads and answers every row)."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import numpy as np

from mlops_pipeline.importing.common import ImportRefused, Source
from mlops_pipeline.schema.model import FeatureSchema
from mlops_pipeline.serving.feed import onnx_input
from mlops_pipeline.training.onnx_export import INPUT_NAME

_ELEMENT = {"double": 11, "int64": 7, "bool": 9, "string": 8}  # onnx.TensorProto values


def read_schema_file(path: Path) -> FeatureSchema:
    try:
        return FeatureSchema.from_json(json.loads(path.read_text(encoding="utf-8")))
    except (OSError, ValueError) as exc:  # SchemaError is a ValueError
        raise ImportRefused(f"schema file {path}: {exc}") from exc


def _inputs_problem(model: Any, schema: FeatureSchema) -> str | None:
    inputs = {i.name: i.type.tensor_type.elem_type for i in model.graph.input}
    if schema.all_numeric:
        expected = {INPUT_NAME: _ELEMENT["double"]}
    else:
        expected = {c.name: _ELEMENT[onnx_input(c)] for c in schema.columns}
    if inputs != expected:
        return (
            f"the ONNX model's inputs {sorted(inputs)} are not the schema's: expected"
            f" {sorted(expected)} ({'one float64 matrix' if schema.all_numeric else 'one typed'}"
            " input per column, as the serving path feeds them)"
        )
    if len(model.graph.output) != 2:
        return "the ONNX model must answer two outputs: class indices and probabilities"
    return None


def read_onnx(path: Path, schema_file: Path | None) -> Source:
    import onnx
    import onnxruntime

    if schema_file is None:
        raise ImportRefused(f"{path} is an ONNX model: give its schema file with --schema")
    schema = read_schema_file(schema_file)
    data = path.read_bytes()
    try:
        model = onnx.load_from_string(data)
        session = onnxruntime.InferenceSession(data, providers=["CPUExecutionProvider"])
    except Exception as exc:  # a protobuf that does not parse or load says so
        raise ImportRefused(f"{path} is not a loadable ONNX model: {exc}") from exc
    problem = _inputs_problem(model, schema)
    if problem is not None:
        raise ImportRefused(f"{path}: {problem}")

    def predict_proba(frame: Any) -> Any:
        from mlops_pipeline.importing.typed import feed

        return np.asarray(session.run(None, feed(schema, frame))[1], dtype=np.float64)

    def to_onnx(_schema: FeatureSchema) -> bytes:
        return data

    return Source(
        source_format="onnx",
        algorithm=f"onnx({model.producer_name or 'unknown producer'})",
        n_classes=len(schema.task.classes),
        predict_proba=predict_proba,
        to_onnx=to_onnx,
        feature_names=tuple(schema.names),
        classes=schema.task.classes,
        columns=schema.columns,
        libraries=("onnx", "onnxruntime"),
    )
