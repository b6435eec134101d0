"""V2 gRPC named inputs for a typed schema: one input per column, decoded into a TypedBatch.

Each input's values come from one of the message's two places, as the protocol allows:

* typed ``contents``: ``bytes_contents`` for ``BYTES`` (UTF-8 text), ``fp64_contents`` /
  ``fp32_contents``, ``int64_contents`` / ``int_contents``, ``bool_contents``;
* ``raw_input_contents`` (what tritonclient.grpc sends by default): one entry per input, in the
  inputs' order, little-endian numbers, ``BYTES`` as 4-byte-length-prefixed elements, ``BOOL``
  one byte each; a request uses raw entries for all its inputs or for none.

Both end as the JSON form's ``data`` and go through schema/v2_inputs.py's checks, so gRPC, V2
REST and ``/predict`` refuse the same mistakes with the same messages (naming input and row).
No gRPC here: the messages are read through their fields only.
"""

from __future__ import annotations

from typing import Any

from mlops_pipeline.protocol.v2_typed import raw_values
from mlops_pipeline.schema.model import FeatureSchema
from mlops_pipeline.schema.rows import RowError, TypedBatch
from mlops_pipeline.schema.v2_inputs import ACCEPTED_DATATYPES, batch_from_v2_inputs

CONTENTS_FIELDS = {
    "FP64": "fp64_contents",
    "FP32": "fp32_contents",
    "INT64": "int64_contents",
    "INT32": "int_contents",
    "BOOL": "bool_contents",
    "BYTES": "bytes_contents",
}


def typed_request_batch(request: Any, schema: FeatureSchema, max_rows: int) -> TypedBatch:
    """The TypedBatch of a ModelInferRequest's named inputs; RowError for every mistake."""
    raw = list(request.raw_input_contents)
    inputs = list(request.inputs)
    if raw and len(raw) != len(inputs):
        message = f"{len(raw)} raw_input_contents entries for {len(inputs)} inputs"
        raise RowError(None, None, message, code="bad_body")
    tensors: list[dict[str, Any]] = []
    for index, tensor in enumerate(inputs):
        tensors.append(_tensor(tensor, raw[index] if raw else None, schema))
    return batch_from_v2_inputs(tensors, schema, max_rows)


def _tensor(tensor: Any, raw: bytes | None, schema: FeatureSchema) -> dict[str, Any]:
    """One input as the JSON form holds it: name, datatype, shape and its values as ``data``."""
    name, datatype = tensor.name, tensor.datatype
    body: dict[str, Any] = {"name": name, "datatype": datatype, "shape": list(tensor.shape)}
    column = schema.column(name)
    if column is None or datatype not in ACCEPTED_DATATYPES[column.type]:
        # batch_from_v2_inputs names the unknown input or the wrong datatype; nothing to decode.
        body["data"] = []
        return body
    if raw is not None:
        if tensor.HasField("contents"):
            message = "has both 'contents' and a raw_input_contents entry"
            raise RowError(None, name, message, code="bad_body", label="input")
        body["data"] = raw_values(name, body, raw)
        return body
    values = list(getattr(tensor.contents, CONTENTS_FIELDS[datatype]))
    if datatype == "BYTES":
        values = [_text(name, row, value) for row, value in enumerate(values)]
    body["data"] = values
    return body


def _text(name: str, row: int, value: bytes) -> str:
    try:
        return value.decode("utf-8")
    except UnicodeDecodeError:
        raise RowError(row, name, "not UTF-8 text", code="wrong_type", label="input") from None
