"""Tracing's switch (pure, over the environment) and spans exported to a real OTLP receiver."""

from __future__ import annotations

from collections.abc import Iterator
from typing import Any

import pytest

from mlops_pipeline.telemetry import tracing
from mlops_pipeline.telemetry.settings import TracingConfigError, tracing_requested
from tests.support.otlp_receiver import Receiver, otlp_receiver

CALLER_TRACE = "0af7651916cd43dd8448eb211c80319c"
CALLER_SPAN = "b7ad6b7169203331"


@pytest.mark.parametrize(
    ("environ", "on"),
    [
        ({}, False),
        ({"OTEL_EXPORTER_OTLP_ENDPOINT": ""}, False),  # empty disables, never enables
        ({"OTEL_EXPORTER_OTLP_ENDPOINT": "http://collector:4318"}, True),
        ({"OTEL_EXPORTER_OTLP_TRACES_ENDPOINT": "http://collector:4318/v1/traces"}, True),
        ({"OTEL_TRACES_EXPORTER": "otlp"}, True),
        ({"OTEL_TRACES_EXPORTER": "none", "OTEL_EXPORTER_OTLP_ENDPOINT": "http://c:4318"}, False),
        ({"OTEL_SDK_DISABLED": "true", "OTEL_TRACES_EXPORTER": "otlp"}, False),
        ({"OTEL_SDK_DISABLED": "TRUE", "OTEL_EXPORTER_OTLP_ENDPOINT": "http://c:4318"}, False),
        ({"OTEL_SDK_DISABLED": "false", "OTEL_EXPORTER_OTLP_ENDPOINT": "http://c:4318"}, True),
        (
            {
                "OTEL_EXPORTER_OTLP_ENDPOINT": "http://c:4318",
                "OTEL_EXPORTER_OTLP_PROTOCOL": "grpc",
                "OTEL_EXPORTER_OTLP_TRACES_PROTOCOL": "http/protobuf",
            },
            True,  # the traces-specific variable decides
        ),
    ],
)
def test_traces_are_on_only_when_the_environment_names_an_otlp_destination(
    environ: dict[str, str], on: bool
) -> None:
    assert tracing_requested(environ) is on


@pytest.mark.parametrize(
    ("environ", "named"),
    [
        ({"OTEL_TRACES_EXPORTER": "zipkin"}, "OTEL_TRACES_EXPORTER=zipkin"),
        ({"OTEL_TRACES_EXPORTER": "otlp,console"}, "OTEL_TRACES_EXPORTER=console,otlp"),
        (
            {"OTEL_EXPORTER_OTLP_ENDPOINT": "http://c:4317", "OTEL_EXPORTER_OTLP_PROTOCOL": "grpc"},
            "OTEL_EXPORTER_OTLP_PROTOCOL=grpc",
        ),
    ],
)
def test_a_tracing_request_this_build_cannot_honour_is_refused_by_name(
    environ: dict[str, str], named: str
) -> None:
    with pytest.raises(TracingConfigError, match=named):
        tracing_requested(environ)


def test_off_hands_back_one_shared_no_op_span() -> None:
    assert not tracing.tracing_on()
    first, second = tracing.span("a", {"k": 1}), tracing.span("b", carrier={})
    assert first is second
    with first as current:
        current.set_attribute("ignored", True)
    tracing.set_attributes({"ignored": 1})
    assert tracing.current_trace_id() is None


@pytest.fixture
def receiver() -> Iterator[Receiver]:
    with otlp_receiver() as running:
        yield running


def test_spans_reach_a_real_receiver_as_children_of_the_callers_traceparent(
    receiver: Receiver,
) -> None:
    environ = {"OTEL_EXPORTER_OTLP_ENDPOINT": receiver.endpoint + "/", "OTEL_SERVICE_NAME": "unit"}
    assert tracing.start_tracing("mlops-api", environ)
    try:
        carrier = {"traceparent": f"00-{CALLER_TRACE}-{CALLER_SPAN}-01"}
        with tracing.span("POST /predict", {"http.request.method": "POST"}, carrier, True):
            tracing.set_attributes({"mlops.request_id": "r-1"})
            assert tracing.current_trace_id() == CALLER_TRACE
            with tracing.span("model.predict", {"mlops.model_version": "v1"}):
                pass
    finally:
        tracing.stop_tracing()
    spans = {span.name: span for span in receiver.wait_for(lambda spans: len(spans) >= 2)}
    request, model = spans["POST /predict"], spans["model.predict"]
    assert receiver.paths == ["/v1/traces"]
    assert request.service == model.service == "unit"
    assert request.trace_id == model.trace_id == CALLER_TRACE
    assert request.parent_span_id == CALLER_SPAN
    assert model.parent_span_id == request.span_id
    assert request.kind == 2  # SPAN_KIND_SERVER
    assert request.attributes == {"http.request.method": "POST", "mlops.request_id": "r-1"}
    assert model.attributes == {"mlops.model_version": "v1"}
    assert not tracing.tracing_on()


def test_route_matcher_names_documented_routes_only() -> None:
    from mlops_pipeline.telemetry.wsgi import route_matcher

    match = route_matcher(["/predict", "/v2/models/{name}/infer", "/v2/models/{name}/ready"])
    assert match("/predict") == "/predict"
    assert match("/v2/models/iris/infer") == "/v2/models/{name}/infer"
    assert match("/v2/models/a/b/infer") is None  # a parameter is one path segment
    assert match("/predict/../admin") is None
    assert match("/" + "x" * 5000) is None


def test_a_request_span_carries_route_status_request_id_and_the_callers_trace(
    receiver: Receiver,
) -> None:
    from mlops_pipeline.telemetry.wsgi import traced

    def app(environ: dict[str, object], start_response: Any) -> list[bytes]:
        with tracing.span("model.predict"):
            start_response("200 OK", [("X-Request-ID", "r-42"), ("Content-Length", "2")])
        return [b"o", b"k"]

    assert tracing.start_tracing("mlops-api", {"OTEL_EXPORTER_OTLP_ENDPOINT": receiver.endpoint})
    try:
        wrapped = traced(app, ["/predict"])
        statuses: list[str] = []
        environ = {
            "REQUEST_METHOD": "POST",
            "PATH_INFO": "/predict",
            "HTTP_TRACEPARENT": f"00-{CALLER_TRACE}-{CALLER_SPAN}-01",
        }
        body = wrapped(environ, lambda status, headers, *exc: statuses.append(status))
        assert list(body) == [b"ok"]
        assert statuses == ["200 OK"]
        wrapped({"REQUEST_METHOD": "GET", "PATH_INFO": "/nowhere/x1"}, lambda *a: None)
    finally:
        tracing.stop_tracing()
    received = receiver.wait_for(lambda spans: len(spans) >= 4)
    spans = {(span.name, span.trace_id == CALLER_TRACE): span for span in received}
    request, model = spans["POST /predict", True], spans["model.predict", True]
    unknown = spans["GET", False]
    assert request.trace_id == CALLER_TRACE
    assert request.parent_span_id == CALLER_SPAN
    assert model.parent_span_id == request.span_id
    assert request.attributes == {
        "http.request.method": "POST",
        "http.route": "/predict",
        "http.response.status_code": 200,
        "mlops.request_id": "r-42",
    }
    assert "http.route" not in unknown.attributes  # no client-made name either
    assert unknown.trace_id != CALLER_TRACE
    assert unknown.parent_span_id == ""
