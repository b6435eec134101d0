"""What a client sees when a call fails, whichever transport carried it.

The decision (which error, which code, whether our fault is logged and the request id shown) is
made here once; each transport then writes it in its own form in one place: HTTP in
``api/error_answers.py`` (JSON bodies), gRPC in ``rpc/service.py`` (status code and message), the
monitor's small HTTP server in ``monitoring/leader.py`` (JSON bodies built by ``error_fields``).
"""

from __future__ import annotations

import logging

from mlops_pipeline.errors import ApiError, InternalError, StorageUnavailable, StoreUnavailable

logger = logging.getLogger(__name__)

INTERNAL_MESSAGE = "internal error; the server log has details"


def client_error(exc: Exception, request_id: str) -> ApiError:
    """Any exception as the error a client sees (REST or gRPC). Call it inside ``except``: a
    fault of ours is logged here, once, with its traceback; a client's mistake is not."""
    if isinstance(exc, ApiError):
        return exc
    if isinstance(exc, StoreUnavailable):
        logger.error("storage unavailable: %s", exc)
        return StorageUnavailable("the database cannot answer now; retry later")
    logger.exception("unhandled error in request %s", request_id)
    return InternalError(INTERNAL_MESSAGE)


def shows_request_id(error: ApiError) -> bool:
    """Our own fault: the answer names the request, so a report can be matched to the log line
    that holds the traceback. A client's mistake needs no such pointer."""
    return isinstance(error, InternalError)


def error_fields(code: str, message: str, request_id: str | None = None) -> dict[str, str]:
    """The JSON error object every HTTP server of this project answers with, keys in this order
    (clients and tests compare bodies byte for byte)."""
    fields = {"error": message, "code": code}
    if request_id is not None:
        fields["request_id"] = request_id
    return fields


def echo(value: str, limit: int = 40) -> str:
    """``value`` quoted for an error message, cut at ``limit`` characters: an error repeats
    what the client sent without letting a megabyte of it into the answer or the log."""
    if len(value) <= limit:
        return repr(value)
    return f"{value[:limit]!r}… ({len(value)} characters)"
