"""HTTP's one place where an exception becomes an error answer: status and JSON fields.

Both ways a request is answered use it: Flask's error handler (api/app.py) for every route Flask
dispatches, and ``InferenceEndpoints.answer`` (api/inference.py) for the inference paths answered
before Flask. Each then writes the fields in its own serializer, as before (Flask's ``jsonify``
there, orjson on the fast path), so every body stays byte for byte what it was. The decision
itself (which error, logged or not, with the request id or not) is the transport-neutral
``client_error`` of protocol/client_errors.py, which gRPC takes too.
"""

from __future__ import annotations

from werkzeug.exceptions import HTTPException

from mlops_pipeline.monitoring.metrics import Metrics
from mlops_pipeline.protocol.client_errors import client_error, error_fields, shows_request_id

# Werkzeug's exceptions for client mistakes (routing, body size), mapped to this API's stable
# error codes. Only Flask raises these; the fast path never meets one.
HTTP_ERROR_CODES = {
    404: "not_found",
    405: "method_not_allowed",
    413: "payload_too_large",
    415: "unsupported_media_type",
}


def error_answer(exc: Exception, request_id: str, metrics: Metrics) -> tuple[int, dict[str, str]]:
    """(HTTP status, JSON fields) for ``exc``, counted by its code. Call it inside ``except`` or
    an error handler: a fault of ours is logged, once, with its traceback."""
    if isinstance(exc, HTTPException):
        status = exc.code or 500
        code = HTTP_ERROR_CODES.get(status, "bad_request" if status < 500 else "internal_error")
        metrics.count_error(code)
        return status, error_fields(code, exc.description or exc.name)
    error = client_error(exc, request_id)
    metrics.count_error(error.code)
    shown = request_id if shows_request_id(error) else None
    return error.status, error_fields(error.code, error.message, shown)
