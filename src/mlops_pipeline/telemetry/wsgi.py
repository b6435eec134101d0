"""A server span around every HTTP request, as WSGI middleware outside the whole app.

Outside, because ``/predict`` and V2 inference are answered by a fast path before Flask routes
anything: the span must cover what the client waits for. Only applied while tracing is on, so
with tracing off the app is served unwrapped (nothing to pay per request).

The span is named ``METHOD /route/{template}`` for the API's documented routes and plain
``METHOD`` otherwise: a client-chosen path must not mint span names (they index trace stores
the way label values index Prometheus). A W3C ``traceparent`` from the caller is honoured; the
response's ``X-Request-ID`` becomes the ``mlops.request_id`` attribute, so a trace and the
prediction log's row find each other.
"""

from __future__ import annotations

import re
from collections.abc import Callable, Iterable
from typing import Any

from mlops_pipeline.telemetry.tracing import span

WSGIApp = Callable[[dict[str, Any], Callable[..., Any]], Iterable[bytes]]


def route_matcher(templates: Iterable[str]) -> Callable[[str], str | None]:
    """``path -> template`` for OpenAPI-style templates (``/v2/models/{name}/infer``)."""
    compiled = [
        (re.compile(re.sub(r"\\\{[^/]+?\\\}", "[^/]+", re.escape(template)) + r"\Z"), template)
        for template in sorted(templates, key=lambda t: (t.count("{"), t))  # literal first
    ]

    def match(path: str) -> str | None:
        for pattern, template in compiled:
            if pattern.match(path):
                return template
        return None

    return match


def traced(app: WSGIApp, routes: Iterable[str]) -> WSGIApp:
    """``app`` with a server span per request (call only once tracing is on)."""
    route_of = route_matcher(routes)

    def wrapper(environ: dict[str, Any], start_response: Callable[..., Any]) -> Iterable[bytes]:
        method = str(environ.get("REQUEST_METHOD", "GET"))
        route = route_of(str(environ.get("PATH_INFO", "")))
        attributes: dict[str, str | int | float | bool] = {"http.request.method": method}
        if route is not None:
            attributes["http.route"] = route
        carrier = {
            key: environ[header]
            for key, header in (
                ("traceparent", "HTTP_TRACEPARENT"),
                ("tracestate", "HTTP_TRACESTATE"),
            )
            if header in environ
        }
        name = f"{method} {route}" if route is not None else method
        with span(name, attributes, carrier, server=True) as current:

            def recording_start(status: str, headers: list[tuple[str, str]], *exc: Any) -> Any:
                code = int(status.split(" ", 1)[0])
                current.set_attribute("http.response.status_code", code)
                for key, value in headers:
                    if key.lower() == "x-request-id":
                        current.set_attribute("mlops.request_id", value)
                if code >= 500:
                    current.set_attribute("error.type", str(code))
                return start_response(status, headers, *exc)

            # The body is materialised inside the span: the API's answers are short byte
            # strings, and the span then covers serialisation too.
            body = app(environ, recording_start)
            try:
                return [b"".join(body)]
            finally:
                close = getattr(body, "close", None)
                if close is not None:
                    close()

    return wrapper
