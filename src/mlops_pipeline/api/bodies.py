"""Request bodies from the WSGI environ: JSON content types only, size-bounded, parsed fast.

No web framework here: the inference endpoints (answered before Flask) and the Flask routes both
read bodies through these functions.
"""

from __future__ import annotations

import json
from typing import Any

import orjson
from flask import request

from mlops_pipeline.errors import (
    InvalidJSON,
    InvalidParameter,
    PayloadTooLarge,
    UnsupportedMediaType,
)
from mlops_pipeline.protocol.client_errors import echo

READ_CHUNK = 64 * 1024
MAX_DIGITS = 18  # any limit or byte count fits; int() of it stays cheap


def is_json_media_type(content_type: str) -> bool:
    """application/json or any structured-syntax +json type (parameters such as charset allowed)."""
    mimetype = content_type.partition(";")[0].strip().lower()
    if mimetype == "application/json":
        return True
    kind, slash, subtype = mimetype.partition("/")
    return bool(kind) and bool(slash) and subtype.endswith("+json") and len(subtype) > 5


def read_body(environ: dict[str, Any], max_bytes: int) -> bytes:
    """The request body, refusing more than ``max_bytes`` whether it is sized or chunked."""
    stream = environ["wsgi.input"]
    length = environ.get("CONTENT_LENGTH")
    if length:
        if not (length.isascii() and length.isdigit() and len(length) <= MAX_DIGITS):
            raise InvalidJSON(f"Content-Length {echo(length, 20)} is not a byte count")
        size = int(length)
        if size > max_bytes:
            raise PayloadTooLarge(f"body of {size} bytes exceeds {max_bytes}")
        return _read(stream, size)
    if not environ.get("wsgi.input_terminated"):
        return b""  # neither sized nor chunked: no body
    # Chunked: read one byte past the limit, so an oversized body is refused, never cut.
    body = _read(stream, max_bytes + 1)
    if len(body) > max_bytes:
        raise PayloadTooLarge(f"body exceeds {max_bytes} bytes")
    return body


def _read(stream: Any, size: int) -> bytes:
    chunks: list[bytes] = []
    remaining = size
    while remaining > 0:
        chunk = stream.read(min(READ_CHUNK, remaining))
        if not chunk:
            break
        chunks.append(chunk)
        remaining -= len(chunk)
    return b"".join(chunks)


def read_json(environ: dict[str, Any], max_bytes: int) -> Any:
    # Only JSON content types: a browser cannot send those cross-site without a CORS preflight,
    # which this API never grants, so a page elsewhere cannot post feedback or weights.
    if not is_json_media_type(environ.get("CONTENT_TYPE", "")):
        raise UnsupportedMediaType(
            "send the body as JSON with 'Content-Type: application/json' (curl --json)"
        )
    return parse_json(read_body(environ, max_bytes))


def parse_json(body: bytes) -> Any:
    """orjson (about 1 µs a row); the standard parser only for what orjson refuses.

    orjson refuses NaN and Infinity literals and integers beyond 64 bits; the standard parser
    takes them, so validation can answer ``invalid_feature_value`` for them, as it always has.
    """
    try:
        return orjson.loads(body)
    except orjson.JSONDecodeError:
        pass
    try:
        return json.loads(body)
    except ValueError as exc:  # JSONDecodeError and UnicodeDecodeError
        raise InvalidJSON(f"body is not valid JSON: {exc}") from None
    except RecursionError:
        raise InvalidJSON("body is nested too deeply") from None


def int_parameter(name: str, default: int, low: int, high: int) -> int:
    """The query parameter ``name`` as an integer in [low, high]; 400 ``invalid_parameter``
    otherwise (ASCII digits only: int() would also take other scripts' digits and signs)."""
    raw = request.args.get(name)
    if raw is None:
        return default
    # The length first: int() refuses more than 4,300 digits with a ValueError (a 500).
    if (
        not (raw.isascii() and raw.isdigit())
        or len(raw) > MAX_DIGITS
        or not low <= int(raw) <= high
    ):
        raise InvalidParameter(f"{name} must be an integer from {low} to {high}, got {echo(raw)}")
    return int(raw)
