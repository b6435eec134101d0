"""A server span around every gRPC call: the caller's ``traceparent`` metadata honoured.

Wraps one unary handler's behaviour (``rpc/server.py`` applies it to its six fixed methods
while tracing is on; with tracing off the handlers are registered unwrapped). The servicer
reports the request id in trailing metadata; the context proxy copies it onto the span, so a
trace and the prediction log's row find each other as they do over HTTP.
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from typing import Any

from mlops_pipeline.telemetry.tracing import span

Behaviour = Callable[[Any, Any], Any]


class _Context:
    """The servicer's context, noting the request id it sends back."""

    def __init__(self, context: Any, current: Any) -> None:
        self._context, self._span = context, current

    def set_trailing_metadata(self, metadata: Sequence[tuple[str, str | bytes]]) -> None:
        for key, value in metadata:
            if key == "x-request-id" and isinstance(value, str):
                self._span.set_attribute("mlops.request_id", value)
        self._context.set_trailing_metadata(metadata)

    def __getattr__(self, name: str) -> Any:
        return getattr(self._context, name)


def traced_rpc(service: str, method: str, behaviour: Behaviour) -> Behaviour:
    """``behaviour`` (request, context) -> response, inside a span ``service/method``."""
    attributes = {"rpc.system": "grpc", "rpc.service": service, "rpc.method": method}

    def call(request: Any, context: Any) -> Any:
        carrier = {
            key: value
            for key, value in context.invocation_metadata() or ()
            if key in ("traceparent", "tracestate") and isinstance(value, str)
        }
        with span(f"{service}/{method}", attributes, carrier, server=True) as current:
            try:
                response = behaviour(request, _Context(context, current))
            finally:
                code = context.code()  # None: OK unless the servicer set one
                current.set_attribute("rpc.grpc.status_code", code.value[0] if code else 0)
            return response

    return call
