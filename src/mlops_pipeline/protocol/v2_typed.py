"""V2 infer requests for a typed schema: one named input per column, JSON or binary data.

The JSON form goes straight to schema/v2_inputs.py. With the binary tensor data extension each
input that names a ``binary_data_size`` takes that many bytes, in the order the inputs are
listed (as tritonclient writes them); they are decoded here into the JSON form's ``data``
(numbers little-endian, ``BYTES`` as 4-byte-length-prefixed UTF-8 elements, ``BOOL`` one byte
each) so both forms end in the same checks. The outputs and the response are v2.py's.
"""

from __future__ import annotations

from dataclasses import dataclass
from math import prod
from typing import Any

import numpy as np

from mlops_pipeline.protocol.v2 import Output, requested_outputs
from mlops_pipeline.schema.model import FeatureSchema
from mlops_pipeline.schema.rows import RowError, TypedBatch
from mlops_pipeline.schema.v2_inputs import batch_from_v2_inputs, decode_string_tensor

RAW_DTYPES: dict[str, np.dtype[Any]] = {
    "FP64": np.dtype("<f8"),
    "FP32": np.dtype("<f4"),
    "INT64": np.dtype("<i8"),
    "INT32": np.dtype("<i4"),
    "BOOL": np.dtype("?"),
}


@dataclass(frozen=True)
class TypedInferRequest:
    id: str | None
    batch: TypedBatch
    outputs: tuple[Output, ...]


def parse_typed_infer(
    payload: Any, schema: FeatureSchema, max_rows: int, binary: bytes | None = None
) -> TypedInferRequest:
    """``binary``: the bytes after the JSON header, None without the extension. RowError for
    every mistake, naming the input (and the row, once values are read)."""
    if not isinstance(payload, dict) or not isinstance(payload.get("inputs"), list):
        raise RowError(None, None, "body must be an object with an 'inputs' list", code="bad_body")
    request_id = payload.get("id")
    if request_id is not None and not isinstance(request_id, str):
        raise RowError(None, None, "'id' must be a string", code="bad_body")
    inputs = _with_binary_data(payload["inputs"], binary or b"", binary is not None)
    return TypedInferRequest(
        request_id, batch_from_v2_inputs(inputs, schema, max_rows), requested_outputs(payload)
    )


def _with_binary_data(inputs: list[Any], binary: bytes, extension: bool) -> list[Any]:
    """The inputs with each binary one's bytes decoded into ``data``; the rest as they are."""
    decoded: list[Any] = []
    offset = 0
    for tensor in inputs:
        size = _binary_size(tensor)
        if size is None:
            decoded.append(tensor)
            continue
        name = str(tensor.get("name"))
        if not extension:
            message = "'binary_data_size' needs the Inference-Header-Content-Length header"
            raise RowError(None, name, message, code="bad_body", label="input")
        if "data" in tensor:
            message = "has both 'data' and 'binary_data_size'"
            raise RowError(None, name, message, code="bad_body", label="input")
        if offset + size > len(binary):
            message = f"'binary_data_size' {size} runs past the {len(binary)} bytes sent"
            raise RowError(None, name, message, code="bad_body", label="input")
        raw = binary[offset : offset + size]
        offset += size
        decoded.append({**tensor, "data": raw_values(name, tensor, raw)})
    if offset != len(binary):
        message = f"{len(binary) - offset} bytes after the JSON header belong to no input"
        raise RowError(None, None, message, code="bad_body")
    return decoded


def _binary_size(tensor: Any) -> int | None:
    if not isinstance(tensor, dict):
        return None  # batch_from_v2_inputs names the malformed input
    parameters = tensor.get("parameters")
    if not isinstance(parameters, dict) or "binary_data_size" not in parameters:
        return None
    size = parameters["binary_data_size"]
    if type(size) is not int or size < 0:
        message = f"'binary_data_size' must be a byte count, got {str(size)[:20]}"
        raise RowError(None, str(tensor.get("name")), message, code="bad_body", label="input")
    return size


def raw_values(name: str, tensor: dict[str, Any], raw: bytes) -> list[Any]:
    """One binary input's elements as the Python values its JSON ``data`` would hold (the HTTP
    binary extension and gRPC's ``raw_input_contents`` share this layout)."""
    shape = tensor.get("shape")
    if not isinstance(shape, list) or not all(type(size) is int and size >= 0 for size in shape):
        message = f"shape must be [N] or [N, 1], got {str(shape)[:40]}"
        raise RowError(None, name, message, code="bad_body", label="input")
    count = prod(shape)
    datatype = tensor.get("datatype")
    if datatype == "BYTES":
        return list(decode_string_tensor(raw, count, name))
    dtype = RAW_DTYPES.get(str(datatype))
    if dtype is None:
        message = f"datatype {str(datatype)[:20]} has no binary form here"
        raise RowError(None, name, message, code="wrong_type", label="input")
    if len(raw) != count * dtype.itemsize:
        message = (
            f"{datatype} of shape {shape} needs {count * dtype.itemsize} bytes, got {len(raw)}"
        )
        raise RowError(None, name, message, code="bad_body", label="input")
    # tolist(): Python floats/ints/bools, so rows.py's checks (finite, integral) apply as to JSON.
    values: list[Any] = np.frombuffer(raw, dtype=dtype).tolist()
    return values
