"""Traces end to end: `mlops serve` (HTTP and V2 gRPC) and `mlops monitor` export to a real
OTLP/HTTP receiver; the caller's trace id and the parent/child links arrive intact."""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path

import grpc
import pytest
import requests
from tritonclient.grpc import service_pb2 as wire

from tests.support.helpers import ADMIN, FEEDBACK
from tests.support.otlp_receiver import ReceivedSpan, Receiver, otlp_receiver
from tests.support.servers import Stack, free_port, running_stack

pytestmark = pytest.mark.e2e

HTTP_TRACE, HTTP_PARENT = "4bf92f3577b34da6a3ce929d0e0e4736", "00f067aa0ba902b7"
GRPC_TRACE, GRPC_PARENT = "5c1a8e0f7d6b4a3e9f2c1b0a9d8e7f60", "1a2b3c4d5e6f7081"
PLAN = {"candidate": "v2", "baseline": "v1", "steps": [0.5, 1.0]}
FAST = {
    "MLOPS_ROLLOUT_INTERVAL_SECONDS": "0.5",
    "MLOPS_DRIFT_INTERVAL_SECONDS": "1",
    "MLOPS_WEIGHTS_SYNC_SECONDS": "0.2",
    "OTEL_BSP_SCHEDULE_DELAY": "200",  # export every 0.2 s, not every 5 s
}


@pytest.fixture(scope="module")
def receiver() -> Iterator[Receiver]:
    with otlp_receiver() as running:
        yield running


@pytest.fixture(scope="module")
def traced_stack(
    artifacts_dir: Path, tmp_path_factory: pytest.TempPathFactory, receiver: Receiver
) -> Iterator[tuple[Stack, str]]:
    grpc_port = free_port()
    env = {
        **FAST,
        "OTEL_EXPORTER_OTLP_ENDPOINT": receiver.endpoint,
        "MLOPS_GRPC_PORT": str(grpc_port),
    }
    with running_stack(artifacts_dir, tmp_path_factory.mktemp("traced"), env) as stack:
        yield stack, f"127.0.0.1:{grpc_port}"


def children(spans: list[ReceivedSpan], parent: ReceivedSpan) -> dict[str, ReceivedSpan]:
    return {span.name: span for span in spans if span.parent_span_id == parent.span_id}


def decision_and_feedback_with_parents(spans: list[ReceivedSpan]) -> bool:
    """The first rollout.decide and feedback.join have arrived, each with its parent: a parent
    ends after its child, and the monitor and the API export on their own schedules, so the
    decision can arrive before its job's span and before the API's feedback spans."""
    ids = {span.span_id for span in spans}
    firsts = [
        next((span for span in spans if span.name == name), None)
        for name in ("rollout.decide", "feedback.join")
    ]
    return all(span is not None and span.parent_span_id in ids for span in firsts)


def test_a_predict_is_one_trace_under_the_callers_span(
    traced_stack: tuple[Stack, str], receiver: Receiver
) -> None:
    stack, _ = traced_stack
    answer = requests.post(
        stack.url + "/predict",
        json={"features": [5.1, 3.5, 1.4, 0.2]},
        headers={"traceparent": f"00-{HTTP_TRACE}-{HTTP_PARENT}-01"},
        timeout=5,
    )
    assert answer.status_code == 200
    request_id = answer.headers["X-Request-ID"]
    spans = receiver.wait_for(lambda spans: sum(span.trace_id == HTTP_TRACE for span in spans) >= 4)
    trace = [span for span in spans if span.trace_id == HTTP_TRACE]
    (server,) = [span for span in trace if span.parent_span_id == HTTP_PARENT]
    assert server.name == "POST /predict"
    assert server.service == "mlops-api"
    assert server.attributes["mlops.request_id"] == request_id
    assert server.attributes["http.response.status_code"] == 200
    inner = children(trace, server)
    assert set(inner) == {"route", "model.infer", "log.append"}
    version = answer.json()["model_version"]
    assert inner["route"].attributes == {
        "mlops.model_version": version,
        "mlops.assignment": "routed",
    }
    assert inner["model.infer"].attributes == {"mlops.model_version": version}


def test_a_v2_grpc_call_is_one_trace_under_the_callers_span(
    traced_stack: tuple[Stack, str], receiver: Receiver
) -> None:
    _, address = traced_stack
    request = wire.ModelInferRequest(model_name="iris")
    tensor = request.inputs.add(name="input", datatype="FP32", shape=[1, 4])
    tensor.contents.fp32_contents.extend([6.7, 3.0, 5.2, 2.3])
    with grpc.insecure_channel(address) as channel:
        infer = channel.unary_unary(
            "/inference.GRPCInferenceService/ModelInfer",
            request_serializer=lambda message: message.SerializeToString(),
            response_deserializer=wire.ModelInferResponse.FromString,
        )
        _, call = infer.with_call(
            request, metadata=(("traceparent", f"00-{GRPC_TRACE}-{GRPC_PARENT}-01"),), timeout=5
        )
    request_id = dict(call.trailing_metadata())["x-request-id"]
    spans = receiver.wait_for(lambda spans: sum(span.trace_id == GRPC_TRACE for span in spans) >= 4)
    trace = [span for span in spans if span.trace_id == GRPC_TRACE]
    (server,) = [span for span in trace if span.parent_span_id == GRPC_PARENT]
    assert server.name == "inference.GRPCInferenceService/ModelInfer"
    assert server.attributes["rpc.system"] == "grpc"
    assert server.attributes["rpc.grpc.status_code"] == 0
    assert server.attributes["mlops.request_id"] == request_id
    assert set(children(trace, server)) == {"route", "model.infer", "log.append"}


def test_feedback_and_a_rollout_decision_are_traced(
    traced_stack: tuple[Stack, str], receiver: Receiver
) -> None:
    stack, _ = traced_stack
    answer = requests.post(
        stack.url + "/predict", json={"features": [5.1, 3.5, 1.4, 0.2]}, timeout=5
    )
    feedback = requests.post(
        stack.url + "/feedback",
        json={"request_id": answer.json()["request_id"], "true_label": 0},
        headers=FEEDBACK,
        timeout=5,
    )
    assert feedback.status_code == 200, feedback.text
    started = requests.post(stack.url + "/rollouts", json=PLAN, headers=ADMIN, timeout=5)
    assert started.status_code == 201, started.text
    try:
        spans = receiver.wait_for(decision_and_feedback_with_parents, timeout=20)
    finally:
        requests.post(stack.url + "/rollouts/current/abort", headers=ADMIN, timeout=5)
    by_id = {span.span_id: span for span in spans}
    decision = next(span for span in spans if span.name == "rollout.decide")
    job = by_id[decision.parent_span_id]
    assert job.name == "monitor.rollout"
    assert job.service == "mlops-monitor"
    assert job.parent_span_id == ""  # a job run is its own trace
    assert decision.attributes["mlops.rollout_id"] == started.json()["id"]
    actions = {"hold", "advance", "promote", "rolled_back"}
    assert decision.attributes["mlops.rollout.action"] in actions
    join = next(span for span in spans if span.name == "feedback.join")
    assert by_id[join.parent_span_id].name == "POST /feedback"
    assert {"monitor.drift", "monitor.experiment"} <= {span.name for span in spans}
