"""V2 gRPC messages to rows and back, with the same checks as the REST protocol. No gRPC here."""

from __future__ import annotations

from typing import Any

import numpy as np
from numpy.typing import NDArray

from mlops_pipeline.protocol.v2 import (
    OUTPUT_DATATYPES,
    OUTPUT_NAMES,
    ProtocolError,
    check_tensor,
    output_arrays,
    rows_from_raw,
)
from mlops_pipeline.rpc.v2 import grpc_predict_v2_pb2 as pb

CONTENTS_FIELD = {"FP32": "fp32_contents", "FP64": "fp64_contents"}


def request_rows(request: Any, n_features: int, max_rows: int) -> NDArray[np.float64]:
    """The rows of the one input tensor, from ``raw_input_contents`` or typed ``contents``."""
    if len(request.inputs) != 1:
        raise ProtocolError(f"expected exactly one input tensor, got {len(request.inputs)}")
    tensor = request.inputs[0]
    datatype, shape = check_tensor(tensor.datatype, list(tensor.shape), n_features, max_rows)
    raw = request.raw_input_contents
    if raw:
        if len(raw) != 1:
            raise ProtocolError(f"expected one raw_input_contents entry, got {len(raw)}")
        if tensor.HasField("contents"):
            raise ProtocolError("an input has both 'contents' and raw_input_contents")
        return rows_from_raw(raw[0], datatype, shape)
    values = getattr(tensor.contents, CONTENTS_FIELD[datatype])
    count = shape[0] * shape[1]
    if len(values) != count:
        raise ProtocolError(
            f"'contents' has {len(values)} values; shape {shape} needs {count}"
            f" in {CONTENTS_FIELD[datatype]}"
        )
    rows = np.array(values, dtype=np.float64).reshape(shape[0], shape[1])
    if not np.isfinite(rows).all():
        raise ProtocolError("tensor data must hold finite numbers")
    return rows


def requested_names(request: Any) -> tuple[str, ...]:
    """Outputs in the order asked (every output when none is named)."""
    names: list[str] = []
    for output in request.outputs:
        if output.name not in OUTPUT_NAMES or output.name in names:
            raise ProtocolError(f"'outputs' must name each of {list(OUTPUT_NAMES)} at most once")
        names.append(output.name)
    return tuple(names) or OUTPUT_NAMES


def infer_response(
    model_name: str,
    version: str,
    request_id: str,
    names: tuple[str, ...],
    classes: NDArray[np.int64],
    probabilities: NDArray[np.float64],
) -> Any:
    """Outputs as ``raw_output_contents`` (little-endian): what Triton sends, what clients read."""
    arrays = output_arrays(classes, probabilities)
    response = pb.ModelInferResponse(model_name=model_name, model_version=version, id=request_id)
    for name in names:
        array = arrays[name]
        response.outputs.add(name=name, datatype=OUTPUT_DATATYPES[name], shape=array.shape)
        response.raw_output_contents.append(array.tobytes())
    return response
