"""Open Inference Protocol (V2) named inputs for a typed schema: metadata and decoding.

One input per column, named for it, with the column's datatype (``FP64``, ``INT64``, ``BOOL``,
``BYTES``) and shape ``[-1, 1]``, as Triton and MLServer's pandas codec describe a tabular
model. A request sends each as ``{"name", "datatype", "shape": [N] or [N, 1], "data"}``; the
values go through rows.py's checks, so a mistake names the input and the row. Decisions:

* a narrower datatype of the same kind is accepted (``FP32`` for a double column, ``INT32`` for
  an integer one): numpy arrays of float32 or int32 are what many clients hold, and JSON values
  carry no width;
* ``null`` in ``data`` is missing in a nullable column (V2 has no missing value of its own; this
  is the JSON body's), and a nullable column's input may be left out (all missing);
* the binary tensor extension's ``BYTES`` layout (each element a 4-byte little-endian length,
  then that many bytes) is :func:`encode_bytes_tensor` / :func:`decode_bytes_tensor`; the
  transport splits the body and hands each input's bytes here.
"""

from __future__ import annotations

import struct
from collections.abc import Iterable, Sequence
from typing import Any

from mlops_pipeline.schema.model import ColumnType, FeatureSchema
from mlops_pipeline.schema.rows import RowError, TypedBatch, build_batch, check_row_count

ACCEPTED_DATATYPES: dict[ColumnType, tuple[str, ...]] = {
    "double": ("FP64", "FP32"),
    "integer": ("INT64", "INT32"),
    "boolean": ("BOOL",),
    "string": ("BYTES",),
}
_LENGTH = struct.Struct("<I")


def model_metadata_inputs(schema: FeatureSchema) -> list[dict[str, object]]:
    """The ``inputs`` of V2 model metadata: one named ``[-1, 1]`` tensor per column."""
    return [
        {"name": column.name, "datatype": column.v2_datatype, "shape": [-1, 1]}
        for column in schema.columns
    ]


def batch_from_v2_inputs(inputs: object, schema: FeatureSchema, max_rows: int) -> TypedBatch:
    """The TypedBatch of a V2 request's ``inputs`` (JSON ``data``), one input per column."""
    if not isinstance(inputs, list) or not inputs:
        raise RowError(None, None, "'inputs' must be a non-empty list", code="bad_body")
    tensors: dict[str, dict[str, Any]] = {}
    for index, tensor in enumerate(inputs):
        if not isinstance(tensor, dict) or not isinstance(tensor.get("name"), str):
            message = f"input {index} must be an object with a name"
            raise RowError(None, None, message, code="bad_body")
        name = tensor["name"]
        if name in tensors:
            raise RowError(None, name, "appears twice", code="bad_body", label="input")
        if schema.column(name) is None:
            message = f"no such input; this model takes {schema.names}"
            raise RowError(None, name, message, code="unknown_column", label="input")
        tensors[name] = tensor
    for column in schema.columns:
        if column.name not in tensors and not column.nullable:
            message = "missing (a required column)"
            raise RowError(None, column.name, message, code="missing_column", label="input")
    values: dict[str, Sequence[Any] | None] = {name: None for name in schema.names}
    n_rows: int | None = None
    for column in schema.columns:
        tensor = tensors.get(column.name)
        if tensor is None:
            continue
        accepted = ACCEPTED_DATATYPES[column.type]
        if tensor.get("datatype") not in accepted:
            message = f"datatype {str(tensor.get('datatype'))[:20]}; this input takes {accepted[0]}"
            raise RowError(None, column.name, message, code="wrong_type", label="input")
        count, data = _rows(column.name, tensor)
        if n_rows is None:
            check_row_count(count, max_rows)
            n_rows = count
        elif count != n_rows:
            message = f"{count} rows; the inputs before it have {n_rows}"
            raise RowError(None, column.name, message, code="bad_body", label="input")
        values[column.name] = data
    if n_rows is None:  # only nullable inputs, none sent: no row to answer
        raise RowError(None, None, "no input carries a row", code="bad_body")
    return build_batch(schema, values, n_rows, "v2", label="input")


def _rows(name: str, tensor: dict[str, Any]) -> tuple[int, list[Any]]:
    """(N, the N values) of a ``[N]`` or ``[N, 1]`` input whose data is flat or nested."""
    shape, data = tensor.get("shape"), tensor.get("data")
    if (
        not isinstance(shape, list)
        or len(shape) not in (1, 2)
        or not all(type(size) is int and size >= 0 for size in shape)
        or (len(shape) == 2 and shape[1] != 1)
    ):
        message = f"shape must be [N] or [N, 1], got {str(shape)[:40]}"
        raise RowError(None, name, message, code="bad_body", label="input")
    if not isinstance(data, list):
        message = "'data' must be a list (the binary extension comes through decode_bytes_tensor)"
        raise RowError(None, name, message, code="bad_body", label="input")
    if any(type(value) is list for value in data):  # nested as the shape: [[v], [v], ...]
        if not all(type(value) is list and len(value) == 1 for value in data):
            message = "nested 'data' must hold one value per row"
            raise RowError(None, name, message, code="bad_body", label="input")
        data = [value[0] for value in data]
    if len(data) != shape[0]:
        message = f"{len(data)} values for shape {shape}"
        raise RowError(None, name, message, code="bad_body", label="input")
    return shape[0], data


def encode_bytes_tensor(values: Iterable[bytes | str]) -> bytes:
    """The binary extension's BYTES layout: per element a 4-byte little-endian length, the bytes.
    Text is written as UTF-8."""
    parts: list[bytes] = []
    for value in values:
        raw = value.encode("utf-8") if isinstance(value, str) else value
        if len(raw) > 0xFFFF_FFFF:
            raise ValueError(f"a BYTES element of {len(raw)} bytes exceeds the 4-byte length")
        parts += (_LENGTH.pack(len(raw)), raw)
    return b"".join(parts)


def decode_bytes_tensor(raw: bytes, count: int, name: str = "") -> list[bytes]:
    """The ``count`` elements of a BYTES tensor's bytes; a RowError names the input and element
    of any layout mistake (a cut length, an element running past the end, bytes left over)."""
    elements: list[bytes] = []
    offset, end = 0, len(raw)
    view = memoryview(raw)
    for row in range(count):
        if offset + 4 > end:
            message = f"{_many(end - offset, 'byte')} left where a 4-byte length should be"
            raise RowError(row, name, message, code="bad_body", label="input")
        (length,) = _LENGTH.unpack_from(raw, offset)
        offset += 4
        if offset + length > end:
            message = (
                f"an element of {_many(length, 'byte')} runs past the end ({end - offset} left)"
            )
            raise RowError(row, name, message, code="bad_body", label="input")
        elements.append(bytes(view[offset : offset + length]))
        offset += length
    if offset != end:
        message = (
            f"{_many(end - offset, 'byte')} after the {_many(count, 'element')} the shape gives"
        )
        raise RowError(None, name, message, code="bad_body", label="input")
    return elements


def decode_string_tensor(raw: bytes, count: int, name: str = "") -> list[str]:
    """A BYTES tensor's elements as text (UTF-8), for a string column's input."""
    texts = []
    for row, element in enumerate(decode_bytes_tensor(raw, count, name)):
        try:
            texts.append(element.decode("utf-8"))
        except UnicodeDecodeError:
            raise RowError(row, name, "not UTF-8 text", code="wrong_type", label="input") from None
    return texts


def _many(number: int, noun: str) -> str:
    return f"{number} {noun}" if number == 1 else f"{number} {noun}s"
