"""The JSON Schemas of request bodies and answers that the OpenAPI document's operations name.

Shapes only: openapi.py arranges them into paths and operations.
"""

from __future__ import annotations

from typing import Any

NUMBER = {"type": "number"}
STRING = {"type": "string"}
ERROR = {
    "type": "object",
    "required": ["error"],
    "properties": {"error": STRING, "code": STRING, "request_id": STRING},
}
OBJECT = {"type": "object"}


def predict_body(feature_names: list[str]) -> dict[str, Any]:
    """One row (a list, or an object by feature name) or a batch of them as ``instances``."""
    width = len(feature_names)
    row = {
        "oneOf": [
            {"type": "array", "items": NUMBER, "minItems": width, "maxItems": width},
            {
                "type": "object",
                "properties": {name: NUMBER for name in feature_names},
                "required": feature_names,
                "additionalProperties": False,
            },
        ]
    }
    return {
        "oneOf": [
            {
                "type": "object",
                "required": ["features"],
                "properties": {"features": row, "user_id": STRING},
            },
            {
                "type": "object",
                "required": ["instances"],
                "properties": {
                    "instances": {"type": "array", "items": row, "minItems": 1},
                    "user_id": STRING,
                },
            },
        ]
    }


def predict_ok(n_classes: int) -> dict[str, Any]:
    probabilities = {"type": "array", "items": NUMBER, "minItems": n_classes, "maxItems": n_classes}
    return {
        "oneOf": [
            {
                "type": "object",
                "required": [
                    "request_id",
                    "prediction",
                    "class_name",
                    "probabilities",
                    "model_version",
                    "latency_ms",
                ],
                "properties": {
                    "request_id": STRING,
                    "prediction": {"type": "integer"},
                    "class_name": STRING,
                    "probabilities": probabilities,
                    "model_version": STRING,
                    "latency_ms": NUMBER,
                },
            },
            {
                "type": "object",
                "required": [
                    "request_id",
                    "predictions",
                    "class_names",
                    "probabilities",
                    "model_version",
                ],
                "properties": {
                    "predictions": {"type": "array", "items": {"type": "integer"}},
                    "class_names": {"type": "array", "items": STRING},
                    "probabilities": {"type": "array", "items": probabilities},
                },
            },
        ]
    }


FEEDBACK_ITEM = {
    "type": "object",
    "required": ["request_id", "true_label"],
    "properties": {
        "request_id": STRING,
        "true_label": {"oneOf": [{"type": "integer"}, STRING]},
        "row_index": {"type": "integer", "minimum": 0},
    },
}


TENSOR = {
    "type": "object",
    "required": ["name", "shape", "datatype", "data"],
    "properties": {
        "name": STRING,
        "shape": {"type": "array", "items": {"type": "integer"}},
        "datatype": {"enum": ["FP32", "FP64"]},
        "data": {"type": "array"},
    },
}
INFER_BODY = {
    "type": "object",
    "required": ["inputs"],
    "properties": {"id": STRING, "inputs": {"type": "array", "items": TENSOR}},
}
INFER_OK = {
    "type": "object",
    "required": ["model_name", "model_version", "outputs"],
    "properties": {
        "model_name": STRING,
        "model_version": STRING,
        "id": STRING,
        "outputs": {"type": "array", "items": OBJECT},
    },
}
