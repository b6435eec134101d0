"""OpenTelemetry traces: spans for requests, the model, the log and the monitor's jobs.

Off unless the standard ``OTEL_*`` variables ask for it (see ``tracing_requested``), and off
must cost nothing: while no exporter is configured, ``span()`` hands back one shared no-op
context manager (a global read and a call, ~0.1 us), not OpenTelemetry's own no-op tracer,
which still builds a span object and swaps the context on every call (several us, paid five
times per request).

Each process starts tracing at its entry point (the WSGI module in every worker, the monitor,
the gRPC server) with ``start_tracing`` and flushes it with ``stop_tracing``: the batch
exporter's thread must run in the process that records the spans, never across a fork.
Exported with OTLP over HTTP/protobuf; the endpoint, headers, timeout and resource come from
the SDK's own ``OTEL_EXPORTER_OTLP_*``, ``OTEL_SERVICE_NAME`` and ``OTEL_RESOURCE_ATTRIBUTES``.
"""

from __future__ import annotations

import contextlib
import logging
from collections.abc import Iterator, Mapping
from typing import Any

from mlops_pipeline.telemetry.settings import TracingConfigError, tracing_requested

__all__ = [
    "TracingConfigError",
    "current_trace_id",
    "set_attributes",
    "span",
    "start_tracing",
    "stop_tracing",
    "tracing_on",
    "tracing_requested",
]

log = logging.getLogger(__name__)

_tracer: Any = None  # an SDK Tracer while tracing is on
_provider: Any = None


class _NoSpan:
    """What ``span()`` yields while tracing is off: accepts attributes, records nothing."""

    __slots__ = ()

    def set_attribute(self, key: str, value: object) -> None:
        pass

    def __enter__(self) -> _NoSpan:
        return self

    def __exit__(self, *exc: object) -> None:
        return None


_NO_SPAN = _NoSpan()


def tracing_on() -> bool:
    return _tracer is not None


def start_tracing(service: str, environ: Mapping[str, str]) -> bool:
    """Configures this process's exporter when ``environ`` asks for traces; True if on.

    ``service`` names the process (``OTEL_SERVICE_NAME`` wins when set). Raises
    ``TracingConfigError`` for a request this build cannot honour (say, OTLP over gRPC)."""
    global _tracer, _provider
    if not tracing_requested(environ) or _tracer is not None:
        return _tracer is not None
    from opentelemetry.exporter.otlp.proto.http.trace_exporter import OTLPSpanExporter
    from opentelemetry.sdk.resources import SERVICE_NAME, Resource
    from opentelemetry.sdk.trace import TracerProvider
    from opentelemetry.sdk.trace.export import BatchSpanProcessor

    # Resource.create reads OTEL_RESOURCE_ATTRIBUTES and OTEL_SERVICE_NAME itself.
    resource = Resource.create({SERVICE_NAME: environ.get("OTEL_SERVICE_NAME") or service})
    provider = TracerProvider(resource=resource)
    provider.add_span_processor(BatchSpanProcessor(OTLPSpanExporter(endpoint=_endpoint(environ))))
    _provider, _tracer = provider, provider.get_tracer("mlops_pipeline")
    log.info("tracing on: OTLP/HTTP export as service %s", resource.attributes[SERVICE_NAME])
    return True


def _endpoint(environ: Mapping[str, str]) -> str | None:
    """The traces URL the way the SDK derives it, but from ``environ`` (None: its default)."""
    traces = environ.get("OTEL_EXPORTER_OTLP_TRACES_ENDPOINT", "").strip()
    if traces:
        return traces
    base = environ.get("OTEL_EXPORTER_OTLP_ENDPOINT", "").strip()
    return base.rstrip("/") + "/v1/traces" if base else None


def stop_tracing() -> None:
    """Exports what is buffered and stops the exporter's thread (idempotent)."""
    global _tracer, _provider
    provider, _provider, _tracer = _provider, None, None
    if provider is not None:
        provider.shutdown()


def span(
    name: str,
    attributes: Mapping[str, str | int | float | bool] | None = None,
    carrier: Mapping[str, str] | None = None,
    server: bool = False,
) -> contextlib.AbstractContextManager[Any]:
    """A span named ``name``, child of the current one (or of the W3C ``traceparent`` in
    ``carrier``, a caller's headers); ``server`` marks a request's entry span."""
    tracer = _tracer
    if tracer is None:
        return _NO_SPAN
    return _recording(tracer, name, attributes, carrier, server)


@contextlib.contextmanager
def _recording(
    tracer: Any,
    name: str,
    attributes: Mapping[str, str | int | float | bool] | None,
    carrier: Mapping[str, str] | None,
    server: bool,
) -> Iterator[Any]:
    from opentelemetry import propagate, trace

    context = propagate.extract(carrier) if carrier is not None else None
    kind = trace.SpanKind.SERVER if server else trace.SpanKind.INTERNAL
    with tracer.start_as_current_span(
        name, context=context, kind=kind, attributes=attributes
    ) as current:
        yield current


def set_attributes(attributes: Mapping[str, str | int | float | bool]) -> None:
    """Adds ``attributes`` to the current span (the request id once it is known)."""
    if _tracer is None:
        return
    from opentelemetry import trace

    trace.get_current_span().set_attributes(attributes)


def current_trace_id() -> str | None:
    """The current span's trace id as 32 hex digits, or None while tracing is off."""
    if _tracer is None:
        return None
    from opentelemetry import trace

    context = trace.get_current_span().get_span_context()
    return f"{context.trace_id:032x}" if context.is_valid else None
