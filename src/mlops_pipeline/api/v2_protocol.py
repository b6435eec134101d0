"""Open Inference Protocol (KServe V2) REST: request parsing and response shapes, no HTTP here.

Only the subset a tabular classifier needs: one FP32/FP64 input tensor of shape [N, n_features],
data flattened (row-major) or nested; outputs `label` (INT64 [N]) and `probabilities`
(FP64 [N, n_classes]).
"""

from __future__ import annotations

import math
from dataclasses import dataclass
from typing import Any

import numpy as np
from numpy.typing import NDArray

from mlops_pipeline.errors import BatchTooLarge, ModelNotFound, ProtocolError

__all__ = ["ModelNotFound", "ProtocolError", "infer_response", "parse_infer_request"]

INPUT_DATATYPES = ("FP32", "FP64")


@dataclass(frozen=True)
class InferRequest:
    id: str | None
    rows: NDArray[np.float64]


def parse_infer_request(payload: Any, n_features: int, max_rows: int) -> InferRequest:
    if not isinstance(payload, dict) or not isinstance(payload.get("inputs"), list):
        raise ProtocolError("body must be an object with an 'inputs' list")
    request_id = payload.get("id")
    if request_id is not None and not isinstance(request_id, str):
        raise ProtocolError("'id' must be a string")
    if len(payload["inputs"]) != 1:
        raise ProtocolError(f"expected exactly one input tensor, got {len(payload['inputs'])}")
    tensor = payload["inputs"][0]
    if not isinstance(tensor, dict):
        raise ProtocolError("an input tensor must be an object")
    datatype, shape, data = tensor.get("datatype"), tensor.get("shape"), tensor.get("data")
    if datatype not in INPUT_DATATYPES:
        raise ProtocolError(f"datatype must be one of {list(INPUT_DATATYPES)}, got {datatype!r}")
    if (
        not isinstance(shape, list)
        or len(shape) != 2
        or not all(type(d) is int for d in shape)
        or shape[0] < 1
        or shape[1] != n_features
    ):
        raise ProtocolError(f"shape must be [N, {n_features}] with N >= 1, got {shape!r}")
    if shape[0] > max_rows:
        raise BatchTooLarge(f"shape has {shape[0]} rows; at most {max_rows} are accepted")
    values = _flatten(data, shape)
    rows = np.array(values, dtype=np.float64).reshape(shape[0], shape[1])
    if datatype == "FP32":
        rows = rows.astype(np.float32).astype(np.float64)
    return InferRequest(request_id, rows)


def _flatten(data: Any, shape: list[int]) -> list[float]:
    if not isinstance(data, list):
        raise ProtocolError("'data' must be a list")
    if data and all(isinstance(row, list) for row in data):
        if len(data) != shape[0] or any(len(row) != shape[1] for row in data):
            raise ProtocolError(f"nested 'data' does not match shape {shape}")
        data = [value for row in data for value in row]
    if len(data) != shape[0] * shape[1]:
        raise ProtocolError(
            f"'data' has {len(data)} values; shape {shape} needs {shape[0] * shape[1]}"
        )
    for value in data:
        if type(value) not in (int, float) or not math.isfinite(value):
            raise ProtocolError(f"'data' must hold finite numbers, got {value!r}")
    return [float(value) for value in data]


def infer_response(
    model_name: str,
    version: str,
    request_id: str | None,
    classes: NDArray[np.int64],
    probabilities: NDArray[np.float64],
) -> dict[str, Any]:
    body: dict[str, Any] = {
        "model_name": model_name,
        "model_version": version,
        "outputs": [
            {
                "name": "label",
                "datatype": "INT64",
                "shape": [len(classes)],
                "data": classes.tolist(),
            },
            {
                "name": "probabilities",
                "datatype": "FP64",
                "shape": list(probabilities.shape),
                "data": probabilities.ravel().tolist(),
            },
        ],
    }
    if request_id is not None:
        body["id"] = request_id
    return body


def model_metadata(
    model_name: str, versions: list[str], n_features: int, n_classes: int
) -> dict[str, Any]:
    return {
        "name": model_name,
        "versions": versions,
        "platform": "onnxruntime_onnx",
        "inputs": [{"name": "input", "datatype": "FP64", "shape": [-1, n_features]}],
        "outputs": [
            {"name": "label", "datatype": "INT64", "shape": [-1]},
            {"name": "probabilities", "datatype": "FP64", "shape": [-1, n_classes]},
        ],
    }
