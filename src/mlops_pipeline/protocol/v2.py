"""Open Inference Protocol (KServe V2): which model and version a call names, the tensor checks,
the REST (JSON) request and response shapes. No transport here: REST and gRPC both use it.

Only the subset a tabular classifier needs: one FP32/FP64 input tensor of shape [N, n_features],
data flattened (row-major) or nested, or raw little-endian bytes (the binary tensor data
extension); outputs `label` (INT64 [N]) and `probabilities` (FP64 [N, n_classes]), each as JSON
or as raw bytes when the request asks. The gRPC service reuses the tensor checks.
"""

from __future__ import annotations

import math
from collections.abc import Callable, Collection
from dataclasses import dataclass
from typing import Any

import numpy as np
from numpy.typing import NDArray

from mlops_pipeline.errors import BatchTooLarge, ModelNotFound, ProtocolError

__all__ = [
    "ModelNotFound",
    "ProtocolError",
    "check_model",
    "check_version",
    "infer_response",
    "parse_infer_request",
    "split_binary_body",
]

INPUT_DATATYPES = ("FP32", "FP64")
# Little-endian, as the extension specifies, whatever this machine's byte order.
WIRE_DTYPES: dict[str, np.dtype[Any]] = {
    "FP32": np.dtype("<f4"),
    "FP64": np.dtype("<f8"),
    "INT64": np.dtype("<i8"),
}
OUTPUT_NAMES = ("label", "probabilities")
OUTPUT_DATATYPES = {"label": "INT64", "probabilities": "FP64"}


@dataclass(frozen=True)
class Output:
    name: str
    binary: bool


ALL_JSON = (Output("label", False), Output("probabilities", False))


@dataclass(frozen=True)
class InferRequest:
    id: str | None
    rows: NDArray[np.float64]
    outputs: tuple[Output, ...] = ALL_JSON


def check_model(name: str, served: str, quote: Callable[[str], str] = repr) -> None:
    """ModelNotFound unless the call names the model this server serves.

    ``quote`` writes the client's text into the message: gRPC passes ``echo`` (bounded: a
    megabyte of name in a status trailer exceeds the client's metadata limit and would turn
    NOT_FOUND into RESOURCE_EXHAUSTED); REST repeats the path segment whole, as it always has.
    """
    if name != served:
        raise ModelNotFound(f"no model {quote(name)}; this server serves {served!r}")


def check_version(
    name: str, version: str, versions: Collection[str], quote: Callable[[str], str] = repr
) -> None:
    """ModelNotFound unless ``version`` is served ("": none named, any version may answer)."""
    if version and version not in versions:
        raise ModelNotFound(f"model {quote(name)} has no version {quote(version)}")


def split_binary_body(body: bytes, header_length: str) -> tuple[bytes, bytes]:
    """(JSON header, tensor bytes) from a body sent with ``Inference-Header-Content-Length``."""
    value = header_length.strip()
    if not (value.isascii() and value.isdigit()) or len(value) > 12:
        raise ProtocolError(
            f"Inference-Header-Content-Length must be a byte count, got {header_length[:20]!r}"
        )
    length = int(value)
    if length == 0 or length > len(body):
        raise ProtocolError(
            f"Inference-Header-Content-Length is {length} but the body has {len(body)} bytes"
        )
    return body[:length], body[length:]


def parse_infer_request(
    payload: Any, n_features: int, max_rows: int, binary: bytes | None = None
) -> InferRequest:
    """``binary``: the bytes after the JSON header, or None for a request without the extension."""
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
    datatype, shape = check_tensor(
        tensor.get("datatype"), tensor.get("shape"), n_features, max_rows
    )
    size = _binary_data_size(tensor)
    if size is None:
        if binary:
            raise ProtocolError(
                f"the body has {len(binary)} bytes after the JSON header but no input names a "
                "'binary_data_size'"
            )
        rows = rows_from_values(tensor.get("data"), datatype, shape)
    else:
        if binary is None:
            raise ProtocolError(
                "'binary_data_size' needs the Inference-Header-Content-Length header"
            )
        if "data" in tensor:
            raise ProtocolError("an input has both 'data' and 'binary_data_size'")
        if size != len(binary):
            raise ProtocolError(
                f"'binary_data_size' is {size} but {len(binary)} bytes follow the JSON header"
            )
        rows = rows_from_raw(binary, datatype, shape)
    return InferRequest(request_id, rows, requested_outputs(payload))


def check_tensor(
    datatype: Any, shape: Any, n_features: int, max_rows: int
) -> tuple[str, list[int]]:
    """(datatype, shape) once they describe [N, n_features] FP32/FP64 with N <= max_rows."""
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
    return datatype, shape


def rows_from_values(data: Any, datatype: str, shape: list[int]) -> NDArray[np.float64]:
    values = _flatten(data, shape)
    rows = np.array(values, dtype=np.float64).reshape(shape[0], shape[1])
    if datatype == "FP32":
        rows = rows.astype(np.float32).astype(np.float64)
    return rows


def rows_from_raw(raw: bytes, datatype: str, shape: list[int]) -> NDArray[np.float64]:
    """Row-major little-endian values, exactly as many bytes as the shape needs, all finite."""
    dtype = WIRE_DTYPES[datatype]
    expected = shape[0] * shape[1] * dtype.itemsize
    if len(raw) != expected:
        raise ProtocolError(
            f"{datatype} tensor of shape {shape} needs {expected} bytes, got {len(raw)}"
        )
    values: NDArray[Any] = np.frombuffer(raw, dtype=dtype)
    rows = values.astype(np.float64).reshape(shape[0], shape[1])
    if not np.isfinite(rows).all():
        raise ProtocolError("tensor data must hold finite numbers")
    return rows


def _binary_data_size(tensor: dict[str, Any]) -> int | None:
    parameters = tensor.get("parameters")
    if parameters is None:
        return None
    if not isinstance(parameters, dict):
        raise ProtocolError("an input's 'parameters' must be an object")
    size = parameters.get("binary_data_size")
    if size is None:
        return None
    if type(size) is not int or size < 0:
        raise ProtocolError(f"'binary_data_size' must be a byte count, got {size!r}")
    return size


def requested_outputs(payload: dict[str, Any]) -> tuple[Output, ...]:
    """The outputs to return, in order, each as JSON or binary (`binary_data_output` default)."""
    parameters = payload.get("parameters", {})
    if not isinstance(parameters, dict):
        raise ProtocolError("'parameters' must be an object")
    default = parameters.get("binary_data_output", False)
    if not isinstance(default, bool):
        raise ProtocolError("'binary_data_output' must be true or false")
    asked = payload.get("outputs")
    if not asked:  # absent or empty: every output
        return tuple(Output(name, default) for name in OUTPUT_NAMES)
    if not isinstance(asked, list) or len(asked) > len(OUTPUT_NAMES):
        raise ProtocolError(f"'outputs' must list some of {list(OUTPUT_NAMES)}")
    outputs: list[Output] = []
    for entry in asked:
        name = entry.get("name") if isinstance(entry, dict) else None
        if name not in OUTPUT_NAMES or any(output.name == name for output in outputs):
            raise ProtocolError(f"'outputs' must name each of {list(OUTPUT_NAMES)} at most once")
        options = entry.get("parameters", {})
        if not isinstance(options, dict):
            raise ProtocolError("an output's 'parameters' must be an object")
        binary = options.get("binary_data", default)
        if not isinstance(binary, bool):
            raise ProtocolError("'binary_data' must be true or false")
        outputs.append(Output(name, binary))
    return tuple(outputs)


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


def output_arrays(
    classes: NDArray[np.int64], probabilities: NDArray[np.float64]
) -> dict[str, NDArray[Any]]:
    return {
        "label": classes.astype(WIRE_DTYPES["INT64"], copy=False),
        "probabilities": probabilities.astype(WIRE_DTYPES["FP64"], copy=False),
    }


def infer_response(
    model_name: str,
    version: str,
    request_id: str | None,
    classes: NDArray[np.int64],
    probabilities: NDArray[np.float64],
    outputs: tuple[Output, ...] = ALL_JSON,
) -> tuple[dict[str, Any], list[bytes]]:
    """The JSON header and the binary chunks that follow it (empty when every output is JSON)."""
    arrays = output_arrays(classes, probabilities)
    tensors: list[dict[str, Any]] = []
    chunks: list[bytes] = []
    for output in outputs:
        array = arrays[output.name]
        tensor: dict[str, Any] = {
            "name": output.name,
            "datatype": OUTPUT_DATATYPES[output.name],
            "shape": list(array.shape),
        }
        if output.binary:
            raw = array.tobytes()
            tensor["parameters"] = {"binary_data_size": len(raw)}
            chunks.append(raw)
        else:
            tensor["data"] = array.ravel()
        tensors.append(tensor)
    body: dict[str, Any] = {"model_name": model_name, "model_version": version, "outputs": tensors}
    if request_id is not None:
        body["id"] = request_id
    return body, chunks


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
