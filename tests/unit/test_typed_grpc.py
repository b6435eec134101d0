"""A typed model over V2 gRPC (issue #22): the penguins bundle behind the servicer in process,
called through tritonclient.grpc with its defaults (named inputs, ``raw_input_contents``, BYTES
length-prefixed) and with typed ``contents``; every mistake INVALID_ARGUMENT naming the input
and the row; answered rows logged and unseen categories counted as over REST."""

from __future__ import annotations

from collections.abc import Iterator
from typing import Any

import grpc
import numpy as np
import pytest
import tritonclient.grpc as triton
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st
from prometheus_client import CollectorRegistry
from tritonclient.grpc import service_pb2 as wire

from mlops_pipeline.bootstrap import Components
from mlops_pipeline.config import Settings
from mlops_pipeline.protocol.access_log import AccessLog
from mlops_pipeline.rpc.server import grpc_server
from mlops_pipeline.rpc.service import InferenceServicer
from mlops_pipeline.schema.v2_inputs import encode_bytes_tensor
from tests.support.helpers import sample
from tests.support.penguins import (
    CLASSES,
    DATATYPES,
    GENTOO,
    ROW,
)

INFER = "/inference.GRPCInferenceService/ModelInfer"
NUMPY_TYPES: dict[str, Any] = {"BYTES": object, "INT64": np.int64, "FP64": np.float64}


@pytest.fixture
def address(typed_settings: Settings, typed_components: Components) -> Iterator[str]:
    service = typed_components.service
    servicer = InferenceServicer(
        service,
        service.metrics,
        "penguins",
        typed_settings.max_batch_rows,
        AccessLog(enabled=False),
    )
    server, port = grpc_server(servicer, "127.0.0.1", 0, typed_settings.max_body_bytes)
    server.start()
    yield f"127.0.0.1:{port}"
    server.stop(None)


@pytest.fixture
def client(address: str) -> Iterator[triton.InferenceServerClient]:
    with triton.InferenceServerClient(address) as client:
        yield client


@pytest.fixture
def channel(address: str) -> Iterator[grpc.Channel]:
    with grpc.insecure_channel(address) as channel:
        yield channel


def triton_inputs(rows: list[dict[str, Any]]) -> list[triton.InferInput]:
    """tritonclient.grpc's defaults: one named [N, 1] input per column, raw contents."""
    inputs = []
    for name in ROW:
        datatype = DATATYPES.get(name, "FP64")
        array = np.array([row[name] for row in rows], dtype=NUMPY_TYPES[datatype]).reshape(-1, 1)
        tensor = triton.InferInput(name, list(array.shape), datatype)
        tensor.set_data_from_numpy(array)
        inputs.append(tensor)
    return inputs


def call(channel: grpc.Channel, request: Any) -> Any:
    method = channel.unary_unary(
        INFER,
        request_serializer=lambda message: message.SerializeToString(),
        response_deserializer=wire.ModelInferResponse.FromString,
    )
    return method(request, timeout=10)


def contents_request(rows: list[dict[str, Any]], skip: str = "") -> Any:
    """The same rows as typed ``contents``: bytes_contents, fp64_contents, int64_contents."""
    request = wire.ModelInferRequest(model_name="penguins")
    for name in ROW:
        if name == skip:
            continue
        datatype = DATATYPES.get(name, "FP64")
        tensor = request.inputs.add(name=name, datatype=datatype, shape=[len(rows), 1])
        values = [row[name] for row in rows]
        if datatype == "BYTES":
            tensor.contents.bytes_contents.extend(v.encode() for v in values)
        elif datatype == "INT64":
            tensor.contents.int64_contents.extend(values)
        else:
            tensor.contents.fp64_contents.extend(values)
    return request


def labels(response: Any) -> list[str]:
    index = [output.name for output in response.outputs].index("label")
    return [CLASSES[i] for i in np.frombuffer(response.raw_output_contents[index], "<i8")]


def test_metadata_lists_one_named_input_per_column(client: triton.InferenceServerClient) -> None:
    metadata = client.get_model_metadata("penguins", as_json=True)
    assert [(i["name"], i["datatype"], i["shape"]) for i in metadata["inputs"]] == [
        (name, DATATYPES.get(name, "FP64"), ["-1", "1"]) for name in ROW
    ]
    assert metadata["outputs"][1]["shape"] == ["-1", "3"]


def test_tritonclient_defaults_are_answered_logged_and_counted(
    client: triton.InferenceServerClient,
    typed_components: Components,
    registry: CollectorRegistry,
) -> None:
    rows = [ROW, GENTOO, {**ROW, "island": "Atlantis"}]
    result = client.infer("penguins", triton_inputs(rows), request_id="typed-1")
    assert [CLASSES[i] for i in result.as_numpy("label")] == ["Adelie", "Gentoo", "Adelie"]
    assert result.as_numpy("probabilities").shape == (3, 3)
    assert result.get_response().id == "typed-1"
    logged = typed_components.service.recent_predictions(3)
    assert len(logged) == 3
    assert (
        sample(registry, "mlops_requests_total", endpoint=INFER, method="POST", status="200") == 1
    )
    assert sample(registry, "mlops_unseen_categories_total", column="island") == 1


def test_typed_contents_answer_like_raw_contents(channel: grpc.Channel) -> None:
    assert labels(call(channel, contents_request([ROW, GENTOO]))) == ["Adelie", "Gentoo"]


def test_a_nullable_input_left_out_is_missing(channel: grpc.Channel) -> None:
    assert labels(call(channel, contents_request([ROW], skip="sex"))) == ["Adelie"]


def raw_request(rows: list[dict[str, Any]], island: bytes | None = None) -> Any:
    """tritonclient's wire form by hand; ``island`` replaces that input's raw bytes."""
    request = wire.ModelInferRequest(model_name="penguins")
    for name in ROW:
        datatype = DATATYPES.get(name, "FP64")
        request.inputs.add(name=name, datatype=datatype, shape=[len(rows), 1])
        values = [row[name] for row in rows]
        if datatype == "BYTES":
            raw = encode_bytes_tensor(values)
        else:
            raw = np.array(values, dtype=NUMPY_TYPES[datatype]).tobytes()
        request.raw_input_contents.append(island if name == "island" and island else raw)
    return request


def mistakes() -> list[tuple[Any, str]]:
    wrong_type = contents_request([ROW])
    wrong_type.inputs[6].datatype = "FP64"  # year is INT64
    unknown = contents_request([ROW])
    unknown.inputs.add(name="beak", datatype="FP64", shape=[1, 1]).contents.fp64_contents.append(1)
    non_finite = contents_request([ROW, ROW])
    non_finite.inputs[1].contents.fp64_contents[1] = float("nan")
    not_text = contents_request([ROW, ROW])
    not_text.inputs[0].contents.bytes_contents[1] = b"\xff"
    too_long = contents_request([ROW, {**ROW, "island": "x" * 300}])
    extra_raw = raw_request([ROW])
    extra_raw.raw_input_contents.append(b"")
    both = raw_request([ROW])
    both.inputs[1].contents.fp64_contents.append(1.0)
    return [
        (wrong_type, "input 'year': datatype FP64; this input takes INT64"),
        (unknown, "input 'beak': no such input"),
        (contents_request([ROW], skip="year"), "input 'year': missing"),
        (non_finite, "row 1, input 'bill_length_mm': nan is not a finite number"),
        (not_text, "row 1, input 'island': not UTF-8 text"),
        (too_long, "row 1, input 'island': 300 characters"),
        (raw_request([ROW], island=b"\x09\x00\x00\x00Bi"), "row 0, input 'island': an element"),
        (raw_request([ROW], island=b"\x00\x00"), "row 0, input 'island': 2 bytes left"),
        (extra_raw, "8 raw_input_contents entries for 7 inputs"),
        (both, "input 'bill_length_mm': has both 'contents' and a raw_input_contents"),
        (contents_request([ROW] * 51), "51 rows; at most 50"),
    ]


@pytest.mark.parametrize("index", range(11))
def test_each_mistake_is_invalid_argument_naming_input_and_row(
    channel: grpc.Channel, index: int
) -> None:
    request, message = mistakes()[index]
    with pytest.raises(grpc.RpcError) as raised:
        call(channel, request)
    assert raised.value.code() == grpc.StatusCode.INVALID_ARGUMENT, raised.value.details()
    assert message in raised.value.details()


def test_tritonclient_sees_a_refusal_as_an_error(client: triton.InferenceServerClient) -> None:
    from tritonclient.utils import InferenceServerException

    inputs = triton_inputs([ROW])[:-1]  # year left out: a required column
    with pytest.raises(InferenceServerException, match="input 'year': missing"):
        client.infer("penguins", inputs)


DATATYPE_NAMES = ["FP64", "FP32", "INT64", "INT32", "BOOL", "BYTES", "UINT8", ""]


@st.composite
def junk_requests(draw: st.DrawFn) -> Any:
    """Named inputs with arbitrary names, datatypes, shapes and raw bytes or typed contents."""
    request = raw_request([ROW] * draw(st.integers(1, 3)))
    for index in draw(st.lists(st.integers(0, len(request.inputs) - 1), max_size=3)):
        tensor = request.inputs[index]
        change = draw(st.sampled_from(["datatype", "shape", "raw", "name"]))
        if change == "datatype":
            tensor.datatype = draw(st.sampled_from(DATATYPE_NAMES))
        elif change == "shape":
            del tensor.shape[:]
            tensor.shape.extend(draw(st.lists(st.integers(-2, 2**40), max_size=3)))
        elif change == "raw":
            request.raw_input_contents[index] = draw(st.binary(max_size=64))
        else:
            tensor.name = draw(st.text(max_size=10))
    if draw(st.booleans()):  # typed contents instead: every raw entry dropped
        del request.raw_input_contents[:]
        for tensor in request.inputs:
            tensor.contents.bytes_contents.extend(draw(st.lists(st.binary(max_size=8), max_size=3)))
            tensor.contents.fp64_contents.extend(draw(st.lists(st.floats(), max_size=3)))
    return request


@settings(max_examples=150, deadline=None, suppress_health_check=list(HealthCheck))
@given(request=junk_requests())
def test_junk_named_inputs_are_invalid_argument_never_internal(
    channel: grpc.Channel, request: Any
) -> None:
    method = channel.unary_unary(
        INFER,
        request_serializer=lambda message: message.SerializeToString(),
        response_deserializer=wire.ModelInferResponse.FromString,
    )
    error = method.future(request, timeout=10).exception()  # None: answered
    if error is not None:
        assert error.code() == grpc.StatusCode.INVALID_ARGUMENT, error.details()
