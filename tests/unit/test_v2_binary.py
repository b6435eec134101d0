"""The binary tensor data extension of the Open Inference Protocol over REST.

A JSON header of ``Inference-Header-Content-Length`` bytes, then raw little-endian tensors
(``parameters.binary_data_size`` per input); outputs as raw bytes when asked.
"""

from __future__ import annotations

import json
from typing import Any

import numpy as np
import pytest
from flask.testing import FlaskClient

from mlops_pipeline.errors import ApiError, BatchTooLarge
from mlops_pipeline.protocol.v2 import (
    Output,
    ProtocolError,
    parse_infer_request,
    requested_outputs,
    split_binary_body,
)
from tests.support.helpers import ADMIN, SETOSA_ROW

VIRGINICA_ROW = [6.7, 3.0, 5.2, 2.3]
ROWS = np.array([SETOSA_ROW, VIRGINICA_ROW])


def binary_request(
    rows: np.ndarray,
    datatype: str = "FP64",
    shape: list[int] | None = None,
    size: Any = None,
    parameters: dict[str, Any] | None = None,
    outputs: list[dict[str, Any]] | None = None,
    raw: bytes | None = None,
) -> tuple[bytes, dict[str, str]]:
    """(body, headers) the way tritonclient builds them."""
    raw = rows.astype("<f4" if datatype == "FP32" else "<f8").tobytes() if raw is None else raw
    tensor = {
        "name": "input",
        "datatype": datatype,
        "shape": shape or list(rows.shape),
        "parameters": {"binary_data_size": len(raw) if size is None else size},
    }
    header: dict[str, Any] = {"inputs": [tensor]}
    if parameters is not None:
        header["parameters"] = parameters
    if outputs is not None:
        header["outputs"] = outputs
    encoded = json.dumps(header).encode()
    return encoded + raw, {"Inference-Header-Content-Length": str(len(encoded))}


def read_binary_answer(response: Any) -> tuple[dict[str, Any], dict[str, np.ndarray]]:
    """The JSON header and each binary output as an array, as tritonclient reads them."""
    assert response.content_type == "application/octet-stream"
    body = response.get_data()
    length = int(response.headers["Inference-Header-Content-Length"])
    header = json.loads(body[:length])
    offset, arrays = length, {}
    for output in header["outputs"]:
        if "data" in output:
            continue
        size = output["parameters"]["binary_data_size"]
        dtype = "<i8" if output["datatype"] == "INT64" else "<f8"
        arrays[output["name"]] = np.frombuffer(body[offset : offset + size], dtype=dtype).reshape(
            output["shape"]
        )
        offset += size
    assert offset == len(body)
    return header, arrays


def test_split_binary_body_takes_the_header_length() -> None:
    assert split_binary_body(b'{"a":1}xyz', "7") == (b'{"a":1}', b"xyz")


@pytest.mark.parametrize(
    ("length", "message"),
    [
        ("-1", "must be a byte count"),
        ("abc", "must be a byte count"),
        ("1e3", "must be a byte count"),
        ("\xb2", "must be a byte count"),  # a superscript two: isdigit() but not int()
        ("9" * 13, "must be a byte count"),
        ("0", "the body has 10 bytes"),
        ("11", "is 11 but the body has 10 bytes"),
    ],
)
def test_bad_header_lengths(length: str, message: str) -> None:
    with pytest.raises(ProtocolError, match=message):
        split_binary_body(b'{"a":1}xyz', length)


@pytest.mark.parametrize("datatype", ["FP32", "FP64"])
def test_binary_rows_equal_the_json_rows(datatype: str) -> None:
    body, headers = binary_request(ROWS, datatype)
    header, raw = split_binary_body(body, headers["Inference-Header-Content-Length"])
    parsed = parse_infer_request(json.loads(header), 4, 10, raw)
    as_json = {"inputs": [{"datatype": datatype, "shape": [2, 4], "data": ROWS.ravel().tolist()}]}
    assert np.array_equal(parsed.rows, parse_infer_request(as_json, 4, 10).rows)


def parse_binary(body: bytes, headers: dict[str, str], max_rows: int = 10) -> Any:
    header, raw = split_binary_body(body, headers["Inference-Header-Content-Length"])
    return parse_infer_request(json.loads(header), 4, max_rows, raw)


@pytest.mark.parametrize(
    ("kwargs", "error", "message"),
    [
        ({"raw": b"\x00" * 63}, ProtocolError, "needs 64 bytes, got 63"),
        ({"datatype": "FP32", "raw": b"\x00" * 64}, ProtocolError, "needs 32 bytes, got 64"),
        ({"size": 60}, ProtocolError, "'binary_data_size' is 60 but 64 bytes follow"),
        ({"size": -1}, ProtocolError, "must be a byte count"),
        ({"size": 1.5}, ProtocolError, "must be a byte count"),
        ({"size": True}, ProtocolError, "must be a byte count"),
        ({"size": "64"}, ProtocolError, "must be a byte count"),
        ({"raw": np.array([np.nan] * 8).tobytes()}, ProtocolError, "finite numbers"),
        ({"raw": np.array([np.inf] * 8).tobytes()}, ProtocolError, "finite numbers"),
        ({"shape": [2, 3]}, ProtocolError, r"shape must be \[N, 4\]"),
        ({"shape": [0, 4], "raw": b""}, ProtocolError, "N >= 1"),
        ({"shape": [11, 4], "raw": b"\x00" * 352}, BatchTooLarge, "11 rows"),
        ({"datatype": "INT64"}, ProtocolError, "datatype must be one of"),
        ({"parameters": {"binary_data_output": "yes"}}, ProtocolError, "true or false"),
    ],
)
def test_bad_binary_requests(kwargs: dict[str, Any], error: type[ApiError], message: str) -> None:
    body, headers = binary_request(ROWS, **kwargs)
    with pytest.raises(error, match=message):
        parse_binary(body, headers)


def test_bytes_after_the_header_with_no_binary_input_are_refused() -> None:
    header = json.dumps({"inputs": [{"datatype": "FP64", "shape": [1, 4], "data": SETOSA_ROW}]})
    with pytest.raises(ProtocolError, match="no input names a 'binary_data_size'"):
        parse_infer_request(json.loads(header), 4, 10, b"extra")


def test_binary_data_size_without_the_header_is_refused() -> None:
    payload = {
        "inputs": [{"datatype": "FP64", "shape": [1, 4], "parameters": {"binary_data_size": 32}}]
    }
    with pytest.raises(ProtocolError, match="needs the Inference-Header-Content-Length"):
        parse_infer_request(payload, 4, 10)


def test_data_and_binary_data_size_together_are_refused() -> None:
    tensor = {"datatype": "FP64", "shape": [1, 4], "data": SETOSA_ROW}
    tensor["parameters"] = {"binary_data_size": 32}
    with pytest.raises(ProtocolError, match="both 'data' and 'binary_data_size'"):
        parse_infer_request({"inputs": [tensor]}, 4, 10, np.array(SETOSA_ROW).tobytes())


@pytest.mark.parametrize(
    ("payload", "expected"),
    [
        ({}, (Output("label", False), Output("probabilities", False))),
        (
            {"parameters": {"binary_data_output": True}},
            (Output("label", True), Output("probabilities", True)),
        ),
        (
            {"outputs": [{"name": "probabilities", "parameters": {"binary_data": True}}]},
            (Output("probabilities", True),),
        ),
        (
            {
                "parameters": {"binary_data_output": True},
                "outputs": [
                    {"name": "probabilities"},
                    {"name": "label", "parameters": {"binary_data": False}},
                ],
            },
            (Output("probabilities", True), Output("label", False)),
        ),
    ],
)
def test_requested_outputs(payload: dict[str, Any], expected: tuple[Output, ...]) -> None:
    assert requested_outputs(payload) == expected


@pytest.mark.parametrize(
    "outputs",
    [
        [{"name": "logits"}],
        [{"name": "label"}, {"name": "label"}],
        ["label"],
        [{"name": "label", "parameters": {"binary_data": 1}}],
        "label",
    ],
)
def test_bad_output_requests(outputs: Any) -> None:
    with pytest.raises(ProtocolError):
        requested_outputs({"outputs": outputs})


@pytest.mark.parametrize("datatype", ["FP32", "FP64"])
def test_binary_in_binary_out_through_the_app(client: FlaskClient, datatype: str) -> None:
    body, headers = binary_request(ROWS, datatype, parameters={"binary_data_output": True})
    response = client.post("/v2/models/iris/versions/v1/infer", data=body, headers=headers)
    assert response.status_code == 200
    header, arrays = read_binary_answer(response)
    assert header["model_version"] == "v1"
    assert [output["name"] for output in header["outputs"]] == ["label", "probabilities"]
    assert arrays["label"].tolist() == [0, 2]
    assert arrays["probabilities"].shape == (2, 3)
    assert np.allclose(arrays["probabilities"].sum(axis=1), 1.0)
    logged = client.get("/predictions?limit=2", headers=ADMIN).get_json()["predictions"]
    assert {row["prediction"] for row in logged} == {0, 2}


def test_binary_in_json_out_and_one_output_binary(client: FlaskClient) -> None:
    body, headers = binary_request(ROWS)
    as_json = client.post("/v2/models/iris/infer", data=body, headers=headers)
    assert as_json.content_type == "application/json"
    assert as_json.get_json()["outputs"][0]["data"] == [0, 2]
    body, headers = binary_request(
        ROWS,
        outputs=[{"name": "label"}, {"name": "probabilities", "parameters": {"binary_data": True}}],
    )
    mixed = client.post("/v2/models/iris/infer", data=body, headers=headers)
    header, arrays = read_binary_answer(mixed)
    assert header["outputs"][0]["data"] == [0, 2]
    assert list(arrays) == ["probabilities"]


def test_json_request_can_ask_for_binary_outputs(client: FlaskClient) -> None:
    payload = {
        "inputs": [{"name": "input", "datatype": "FP64", "shape": [1, 4], "data": SETOSA_ROW}],
        "outputs": [{"name": "label", "parameters": {"binary_data": True}}],
    }
    # No Content-Type at all, as Triton's clients send it.
    response = client.post("/v2/models/iris/infer", data=json.dumps(payload))
    _, arrays = read_binary_answer(response)
    assert arrays["label"].tolist() == [0]


@pytest.mark.parametrize(
    ("mutate", "message"),
    [
        (lambda body, length: (body, "x"), "must be a byte count"),
        (lambda body, length: (body, str(len(body) + 1)), "but the body has"),
        (lambda body, length: (body[:-8], length), "but 56 bytes follow"),
        (lambda body, length: (body + b"\x00" * 8, length), "but 72 bytes follow"),
        (lambda body, length: (body, str(int(length) - 1)), "not valid JSON"),
    ],
)
def test_malformed_binary_bodies_are_400_json(
    client: FlaskClient, mutate: Any, message: str
) -> None:
    body, headers = binary_request(ROWS)
    body, length = mutate(body, headers["Inference-Header-Content-Length"])
    response = client.post(
        "/v2/models/iris/infer", data=body, headers={"Inference-Header-Content-Length": length}
    )
    assert response.status_code == 400
    assert response.is_json
    assert message in response.get_json()["error"]


def test_other_routes_still_want_json(client: FlaskClient) -> None:
    body, headers = binary_request(ROWS)
    assert client.post("/predict", data=body, headers=headers).status_code == 415
    assert (
        client.post("/v2/models/iris/infer", data=b"{}", content_type="text/plain").status_code
        == 415
    )
