"""Structured request and security logs: one JSON object per line on stderr, and request ids.

A reviewer can grep one request (``request_id`` equals the ``X-Request-ID`` header, or the
``x-request-id`` trailer over gRPC) or every security event (``"event": "auth_failure"``).
Client-chosen text (method, actor) arrives bounded; tokens are never passed here.
"""

from __future__ import annotations

import os
import time
from collections.abc import Callable
from datetime import UTC, datetime
from typing import Any

import orjson

MAX_FIELD_LENGTH = 128


def write_stderr(line: bytes) -> None:
    # One write(2) per line: lines from several workers sharing the stream never interleave.
    os.write(2, line)


_SECOND: list[tuple[int, str]] = [(-1, "")]


def _timestamp(now: float) -> str:
    """ISO 8601 UTC with milliseconds; the date-time part is formatted once per second."""
    second = int(now)
    cached_second, prefix = _SECOND[0]
    if second != cached_second:
        prefix = datetime.fromtimestamp(second, UTC).strftime("%Y-%m-%dT%H:%M:%S")
        _SECOND[0] = (second, prefix)
    return f"{prefix}.{int((now - second) * 1000):03d}Z"


def new_request_id() -> str:
    """32 hex digits: a millisecond timestamp, then 80 random bits.

    Time-ordered ids append to the right edge of the log's index instead of landing on random
    pages, which makes the per-request insert measurably cheaper.
    """
    return f"{time.time_ns() // 1_000_000:012x}{os.urandom(10).hex()}"


class AccessLog:
    def __init__(
        self,
        write: Callable[[bytes], object] = write_stderr,
        clock: Callable[[], float] = time.time,
        enabled: bool = True,
    ) -> None:
        self._write = write
        self._clock = clock
        self.enabled = enabled

    def request(
        self,
        request_id: str,
        method: str,
        route: str,
        status: int,
        duration_ms: float,
        client: str | None,
        model_version: str | None,
    ) -> None:
        if not self.enabled:
            return
        record: dict[str, Any] = {
            "time": _timestamp(self._clock()),
            "event": "request",
            "request_id": request_id,
            "method": method,
            "route": route,
            "status": status,
            "duration_ms": round(duration_ms, 3),
            "client": _bounded(client),
        }
        if model_version is not None:
            record["model_version"] = model_version
        self._emit(record)

    def event(self, event: str, **fields: Any) -> None:
        """A security-relevant event (auth failure, role denied, weights changed), always logged."""
        record: dict[str, Any] = {"time": _timestamp(self._clock()), "event": event}
        record.update({k: _bounded(v) if isinstance(v, str) else v for k, v in fields.items()})
        self._emit(record)

    def record(self, fields: dict[str, Any]) -> None:
        """A structured event from a service (a rollout transition), always logged."""
        event = str(fields.get("event", "event"))
        self.event(event, **{k: v for k, v in fields.items() if k != "event"})

    def _emit(self, record: dict[str, Any]) -> None:
        self._write(orjson.dumps(record) + b"\n")


def _bounded(value: str | None) -> str | None:
    if value is None:
        return None
    return value if len(value) <= MAX_FIELD_LENGTH else value[:MAX_FIELD_LENGTH] + "..."
