"""The V2 gRPC service, in process on a free port, through tritonclient.grpc and raw calls."""

from __future__ import annotations

import json
from collections.abc import Iterator
from typing import Any

import grpc
import numpy as np
import pytest
import tritonclient.grpc as triton
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st
from prometheus_client import CollectorRegistry
from tritonclient.grpc import service_pb2 as wire  # tritonclient's own messages: black box
from tritonclient.utils import InferenceServerException

from mlops_pipeline.config import Settings
from mlops_pipeline.protocol.access_log import AccessLog
from mlops_pipeline.rpc.server import grpc_server
from mlops_pipeline.rpc.service import InferenceServicer
from mlops_pipeline.serving.service import PredictionService
from tests.support.helpers import SETOSA_ROW, sample

VIRGINICA_ROW = [6.7, 3.0, 5.2, 2.3]
ROWS = np.array([SETOSA_ROW, VIRGINICA_ROW])
INFER = "/inference.GRPCInferenceService/ModelInfer"


@pytest.fixture
def grpc_address(
    settings: Settings,
    service: PredictionService,
    access_lines: list[bytes],
) -> Iterator[str]:
    servicer = InferenceServicer(
        service,
        service.metrics,
        settings.model_name,
        settings.max_batch_rows,
        AccessLog(write=access_lines.append),
    )
    server, port = grpc_server(servicer, "127.0.0.1", 0, settings.max_body_bytes)
    server.start()
    yield f"127.0.0.1:{port}"
    server.stop(None)


@pytest.fixture
def client(grpc_address: str) -> Iterator[triton.InferenceServerClient]:
    client = triton.InferenceServerClient(grpc_address)
    yield client
    client.close()


@pytest.fixture
def channel(grpc_address: str) -> Iterator[grpc.Channel]:
    with grpc.insecure_channel(grpc_address) as channel:
        yield channel


def infer_input(rows: np.ndarray, datatype: str = "FP64") -> triton.InferInput:
    tensor = triton.InferInput("input", list(rows.shape), datatype)
    tensor.set_data_from_numpy(rows.astype(np.float32 if datatype == "FP32" else np.float64))
    return tensor


def test_health_and_metadata(client: triton.InferenceServerClient) -> None:
    assert client.is_server_live()
    assert client.is_server_ready()
    assert client.is_model_ready("iris")
    assert client.is_model_ready("iris", "v2")
    metadata = client.get_model_metadata("iris", as_json=True)
    assert metadata["versions"] == ["v1", "v2"]
    assert metadata["inputs"] == [{"name": "input", "datatype": "FP64", "shape": ["-1", "4"]}]
    assert client.get_server_metadata(as_json=True)["name"] == "mlops-pipeline"


@pytest.mark.parametrize("datatype", ["FP32", "FP64"])
def test_infer_with_client_defaults_is_routed_logged_and_counted(
    client: triton.InferenceServerClient,
    service: PredictionService,
    datatype: str,
    access_lines: list[bytes],
    registry: CollectorRegistry,
) -> None:
    result = client.infer("iris", [infer_input(ROWS, datatype)], request_id="mine-1")
    assert result.as_numpy("label").tolist() == [0, 2]
    probabilities = result.as_numpy("probabilities")
    assert probabilities.shape == (2, 3)
    assert np.allclose(probabilities.sum(axis=1), 1.0)
    response = result.get_response()
    assert response.id == "mine-1"
    assert response.model_version in {"v1", "v2"}
    logged = service.recent_predictions(2)
    assert [row["prediction"] for row in logged] == [2, 0]
    assert {row["assignment"] for row in logged} == {"routed"}
    assert (
        sample(registry, "mlops_requests_total", endpoint=INFER, method="POST", status="200") == 1
    )
    line = json.loads(access_lines[-1])
    assert (line["route"], line["status"], line["model_version"]) == (
        INFER,
        200,
        response.model_version,
    )


def test_pinned_version_and_typed_contents(
    client: triton.InferenceServerClient, channel: grpc.Channel, service: PredictionService
) -> None:
    for version in ("v1", "v2"):
        result = client.infer("iris", [infer_input(ROWS)], model_version=version)
        assert result.get_response().model_version == version
    assert {row["assignment"] for row in service.recent_predictions(2)} == {"pinned"}
    request = wire.ModelInferRequest(model_name="iris", model_version="v1")
    tensor = request.inputs.add(name="input", datatype="FP32", shape=[2, 4])
    tensor.contents.fp32_contents.extend(ROWS.ravel().tolist())
    request.outputs.add(name="probabilities")
    answer = call(channel, request)
    assert [output.name for output in answer.outputs] == ["probabilities"]
    assert np.frombuffer(answer.raw_output_contents[0], "<f8").reshape(2, 3).argmax(1).tolist() == [
        0,
        2,
    ]


def call(channel: grpc.Channel, request: Any) -> Any:
    method = channel.unary_unary(
        INFER,
        request_serializer=lambda message: message.SerializeToString(),
        response_deserializer=wire.ModelInferResponse.FromString,
    )
    return method(request, timeout=10)


def request_with(
    datatype: str = "FP64",
    shape: tuple[int, ...] = (2, 4),
    raw: list[bytes] | None = None,
    model: str = "iris",
    version: str = "",
    inputs: int = 1,
    outputs: tuple[str, ...] = (),
    contents: list[float] | None = None,
) -> Any:
    request = wire.ModelInferRequest(model_name=model, model_version=version)
    for _ in range(inputs):
        tensor = request.inputs.add(name="input", datatype=datatype, shape=list(shape))
        if contents is not None:
            tensor.contents.fp64_contents.extend(contents)
    for name in outputs:
        request.outputs.add(name=name)
    if contents is None:
        request.raw_input_contents.extend(raw if raw is not None else [ROWS.tobytes()])
    return request


# The REST corpus over gRPC: each bad request, the status it gets and a part of the message.
BAD_REQUESTS = [
    (request_with(model="roses"), grpc.StatusCode.NOT_FOUND, "no model 'roses'"),
    (request_with(version="v9"), grpc.StatusCode.NOT_FOUND, "no version 'v9'"),
    (request_with(inputs=0, raw=[]), grpc.StatusCode.INVALID_ARGUMENT, "exactly one input"),
    (request_with(inputs=2), grpc.StatusCode.INVALID_ARGUMENT, "exactly one input"),
    (request_with(datatype="INT64"), grpc.StatusCode.INVALID_ARGUMENT, "datatype must be"),
    (request_with(shape=(2, 3)), grpc.StatusCode.INVALID_ARGUMENT, r"shape must be [N, 4]"),
    (request_with(shape=(8,)), grpc.StatusCode.INVALID_ARGUMENT, r"shape must be [N, 4]"),
    (request_with(shape=(0, 4), raw=[b""]), grpc.StatusCode.INVALID_ARGUMENT, "N >= 1"),
    (request_with(raw=[ROWS.tobytes()[:-1]]), grpc.StatusCode.INVALID_ARGUMENT, "needs 64 bytes"),
    (request_with(datatype="FP32"), grpc.StatusCode.INVALID_ARGUMENT, "needs 32 bytes, got 64"),
    (request_with(raw=[ROWS.tobytes()] * 2), grpc.StatusCode.INVALID_ARGUMENT, "one raw_input"),
    (
        request_with(raw=[np.full(8, np.nan).tobytes()]),
        grpc.StatusCode.INVALID_ARGUMENT,
        "finite numbers",
    ),
    (request_with(contents=[1.0] * 7), grpc.StatusCode.INVALID_ARGUMENT, "has 7 values"),
    (
        request_with(contents=[float("inf")] * 8),
        grpc.StatusCode.INVALID_ARGUMENT,
        "finite numbers",
    ),
    (request_with(outputs=("logits",)), grpc.StatusCode.INVALID_ARGUMENT, "'outputs' must"),
    (
        request_with(shape=(501, 4), raw=[bytes(501 * 32)]),
        grpc.StatusCode.INVALID_ARGUMENT,
        "at most 500",
    ),
]


@pytest.mark.parametrize(("request_", "code", "message"), BAD_REQUESTS)
def test_bad_requests_get_status_codes_not_internal_errors(
    channel: grpc.Channel, request_: Any, code: grpc.StatusCode, message: str
) -> None:
    with pytest.raises(grpc.RpcError) as raised:
        call(channel, request_)
    assert raised.value.code() == code
    assert message in raised.value.details()


def test_errors_are_counted_with_their_code(
    channel: grpc.Channel, service: PredictionService, registry: CollectorRegistry
) -> None:
    with pytest.raises(grpc.RpcError):
        call(channel, request_with(shape=(2, 3)))
    assert sample(registry, "mlops_errors_total", code="invalid_inference_request") == 1
    assert (
        sample(registry, "mlops_requests_total", endpoint=INFER, method="POST", status="400") == 1
    )
    assert service.recent_predictions(1) == []


def test_client_errors_reach_tritonclient_as_exceptions(
    client: triton.InferenceServerClient,
) -> None:
    with pytest.raises(InferenceServerException, match="no version 'v9'"):
        client.infer("iris", [infer_input(ROWS)], model_version="v9")
    with pytest.raises(InferenceServerException, match="no model"):
        client.get_model_metadata("roses")


def test_a_log_that_cannot_write_is_unavailable(
    channel: grpc.Channel, service: PredictionService, monkeypatch: pytest.MonkeyPatch
) -> None:
    from mlops_pipeline.storage import StoreUnavailable

    def refuse(*_args: object) -> None:
        raise StoreUnavailable("disk full")

    monkeypatch.setattr(service._store, "append", refuse)
    with pytest.raises(grpc.RpcError) as raised:
        call(channel, request_with())
    assert raised.value.code() == grpc.StatusCode.UNAVAILABLE


def raw_call(channel: grpc.Channel, data: bytes) -> grpc.StatusCode:
    method = channel.unary_unary(INFER)  # bytes in, bytes out
    try:
        method(data, timeout=10)
    except grpc.RpcError as error:
        return error.code()  # type: ignore[no-any-return]
    return grpc.StatusCode.OK


@settings(
    max_examples=150, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture]
)
@given(data=st.binary(max_size=300))
def test_arbitrary_bytes_are_client_errors(channel: grpc.Channel, data: bytes) -> None:
    assert raw_call(channel, data) in {
        grpc.StatusCode.INVALID_ARGUMENT,
        grpc.StatusCode.NOT_FOUND,
    }


@settings(
    max_examples=150, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture]
)
@given(
    datatype=st.sampled_from(["FP32", "FP64", "INT64", "BYTES", ""]),
    shape=st.lists(st.integers(-2, 600), max_size=3),
    raw=st.lists(st.binary(max_size=400), max_size=2),
    contents=st.lists(st.floats(), max_size=20),
    version=st.sampled_from(["", "v1", "v2", "v9"]),
    outputs=st.lists(st.sampled_from(["label", "probabilities", "x"]), max_size=3),
)
def test_arbitrary_tensors_never_make_an_internal_error(
    channel: grpc.Channel,
    datatype: str,
    shape: list[int],
    raw: list[bytes],
    contents: list[float],
    version: str,
    outputs: list[str],
) -> None:
    request = wire.ModelInferRequest(model_name="iris", model_version=version)
    tensor = request.inputs.add(name="input", datatype=datatype, shape=shape)
    if raw:
        request.raw_input_contents.extend(raw)
    else:
        tensor.contents.fp64_contents.extend(contents)
    for name in outputs:
        request.outputs.add(name=name)
    assert raw_call(channel, request.SerializeToString()) in {
        grpc.StatusCode.OK,
        grpc.StatusCode.INVALID_ARGUMENT,
        grpc.StatusCode.NOT_FOUND,
    }
