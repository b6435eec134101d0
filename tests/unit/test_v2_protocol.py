"""Open Inference Protocol (V2): parsing, and the endpoints through the app factory."""

from __future__ import annotations

from typing import Any

import numpy as np
import pytest
from flask.testing import FlaskClient

from mlops_pipeline.errors import ApiError, BatchTooLarge
from mlops_pipeline.protocol.v2 import ProtocolError, parse_infer_request
from tests.support.helpers import ADMIN, SETOSA_ROW

VIRGINICA_ROW = [6.7, 3.0, 5.2, 2.3]


def tensor(data: Any, shape: Any = (2, 4), datatype: str = "FP64") -> dict[str, Any]:
    return {"inputs": [{"name": "input", "shape": list(shape), "datatype": datatype, "data": data}]}


def test_flattened_and_nested_data_give_the_same_rows() -> None:
    flat = parse_infer_request(tensor(SETOSA_ROW + VIRGINICA_ROW), 4, 10)
    nested = parse_infer_request(tensor([SETOSA_ROW, VIRGINICA_ROW]), 4, 10)
    assert np.array_equal(flat.rows, nested.rows)
    assert flat.rows.tolist() == [SETOSA_ROW, VIRGINICA_ROW]


def test_fp32_inputs_are_rounded_to_float32() -> None:
    rows = parse_infer_request(tensor([0.1] * 4, shape=(1, 4), datatype="FP32"), 4, 10).rows
    assert rows[0, 0] == float(np.float32(0.1))


@pytest.mark.parametrize(
    ("payload", "error", "message"),
    [
        ({"inputs": "x"}, ProtocolError, "'inputs' list"),
        ({"inputs": []}, ProtocolError, "exactly one input tensor"),
        (tensor([1] * 8, datatype="INT32"), ProtocolError, "datatype must be one of"),
        (tensor([1] * 8, shape=(2, 3)), ProtocolError, r"shape must be \[N, 4\]"),
        (tensor([1] * 8, shape=(0, 4)), ProtocolError, "N >= 1"),
        (tensor([1] * 7), ProtocolError, "has 7 values; shape"),
        (tensor([[1, 2, 3, 4], [1, 2, 3]]), ProtocolError, "does not match shape"),
        (tensor([1, 2, 3, "x"] * 2), ProtocolError, "finite numbers"),
        (tensor([1, 2, 3, True] * 2), ProtocolError, "finite numbers"),
        (tensor([1, 2, 3, float("nan")] * 2), ProtocolError, "finite numbers"),
        (tensor([1] * 44, shape=(11, 4)), BatchTooLarge, "11 rows"),
        ({"id": 5, **tensor([1] * 8)}, ProtocolError, "'id' must be a string"),
    ],
)
def test_invalid_requests(payload: Any, error: type[ApiError], message: str) -> None:
    with pytest.raises(error, match=message):
        parse_infer_request(payload, 4, 10)


def test_health_and_metadata(client: FlaskClient) -> None:
    assert client.get("/v2/health/live").get_json() == {"live": True}
    assert client.get("/v2/health/ready").get_json() == {"ready": True}
    metadata = client.get("/v2/models/iris").get_json()
    assert metadata["versions"] == ["v1", "v2"]
    assert metadata["inputs"] == [{"name": "input", "datatype": "FP64", "shape": [-1, 4]}]
    assert metadata["outputs"][1] == {"name": "probabilities", "datatype": "FP64", "shape": [-1, 3]}
    assert client.get("/v2/models/iris/ready").get_json() == {"name": "iris", "ready": True}


def test_infer_is_routed_echoes_the_id_and_is_logged(client: FlaskClient) -> None:
    body = {"id": "my-request-1", **tensor([SETOSA_ROW, VIRGINICA_ROW])}
    answer = client.post("/v2/models/iris/infer", json=body).get_json()
    assert answer["id"] == "my-request-1"
    assert answer["model_name"] == "iris"
    assert answer["model_version"] in {"v1", "v2"}
    label, probabilities = answer["outputs"]
    assert (label["name"], label["datatype"], label["shape"], label["data"]) == (
        "label",
        "INT64",
        [2],
        [0, 2],
    )
    assert probabilities["shape"] == [2, 3]
    assert len(probabilities["data"]) == 6
    logged = client.get("/predictions?limit=2", headers=ADMIN).get_json()["predictions"]
    assert {row["prediction"] for row in logged} == {0, 2}


def test_infer_pinned_to_a_version(client: FlaskClient) -> None:
    for version in ("v1", "v2"):
        answers = {
            client.post(
                f"/v2/models/iris/versions/{version}/infer", json=tensor(SETOSA_ROW, shape=(1, 4))
            ).get_json()["model_version"]
            for _ in range(10)
        }
        assert answers == {version}


@pytest.mark.parametrize(
    ("path", "status"),
    [("/v2/models/roses", 404), ("/v2/models/roses/ready", 404)],
)
def test_unknown_model_is_404_json(client: FlaskClient, path: str, status: int) -> None:
    response = client.get(path)
    assert response.status_code == status
    assert "error" in response.get_json()


def test_infer_errors_are_protocol_json(client: FlaskClient) -> None:
    unknown_version = client.post("/v2/models/iris/versions/v9/infer", json=tensor([1] * 8))
    assert (unknown_version.status_code, unknown_version.get_json()["code"]) == (
        404,
        "model_not_found",
    )
    bad = client.post("/v2/models/iris/infer", json=tensor([1] * 7))
    assert bad.status_code == 400
    assert "shape" in bad.get_json()["error"]
    wrong_model = client.post("/v2/models/roses/infer", json=tensor([1] * 8))
    assert wrong_model.status_code == 404
