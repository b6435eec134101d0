"""The OpenAPI description matches the implementation (schemathesis), and no input makes a 5xx."""

from __future__ import annotations

import json
from typing import Any

import pytest
import schemathesis
from flask import Flask
from flask.testing import FlaskClient
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st
from schemathesis.checks import not_a_server_error
from schemathesis.specs.openapi.checks import (
    content_type_conformance,
    response_schema_conformance,
    status_code_conformance,
)

from mlops_pipeline.api import create_app
from mlops_pipeline.bootstrap import build_components
from mlops_pipeline.config import Settings, database_url
from mlops_pipeline.monitoring.metrics import Metrics
from mlops_pipeline.storage.schema import upgrade

CHECKS = [
    not_a_server_error,
    status_code_conformance,
    content_type_conformance,
    response_schema_conformance,
]


@pytest.fixture(scope="module")
def module_app(artifacts_dir: Any, tmp_path_factory: pytest.TempPathFactory) -> Flask:
    from prometheus_client import CollectorRegistry

    settings = Settings(
        artifacts_dir=artifacts_dir,
        db_path=tmp_path_factory.mktemp("openapi") / "log.db",
        drift_interval_seconds=0,
        admin_token="fuzz-admin-token-0123",
        feedback_token="fuzz-feedback-token-0123",
        max_batch_rows=200,
        max_body_bytes=256 * 1024,
    )
    registry = CollectorRegistry()
    upgrade(database_url(settings))
    components = build_components(settings, Metrics(registry))
    return create_app(settings, components, registry)


def test_openapi_lists_every_route(client: FlaskClient, app: Flask) -> None:
    spec = client.get("/openapi.json").get_json()
    assert spec["openapi"].startswith("3.")
    documented = {path.replace("{", "<").replace("}", ">") for path in spec["paths"]}
    served = {rule.rule for rule in app.url_map.iter_rules() if rule.endpoint != "static"}
    assert served == documented


@pytest.fixture(scope="module")
def operations(module_app: Flask) -> dict[str, Any]:
    schema = schemathesis.openapi.from_wsgi("/openapi.json", module_app)
    found = {}
    for result in schema.get_all_operations():
        operation = result.ok()
        found[f"{operation.method.upper()} {operation.path}"] = operation
    return found


# Every documented operation; schemathesis leaves out the schema's own path, /openapi.json.
OPERATIONS = [
    "POST /predict",
    "GET /health",
    "GET /ready",
    "GET /config",
    "GET /models",
    "GET /predictions",
    "GET /drift",
    "POST /feedback",
    "GET /experiment",
    "PUT /config/weights",
    "PUT /config/shadow",
    "GET /config/history",
    "GET /rollouts",
    "POST /rollouts",
    "GET /rollouts/current",
    "POST /rollouts/current/abort",
    "GET /retrains",
    "POST /retrains",
    "GET /metrics",
    "GET /v2/health/live",
    "GET /v2/health/ready",
    "GET /v2/models/{name}",
    "GET /v2/models/{name}/ready",
    "POST /v2/models/{name}/infer",
    "POST /v2/models/{name}/versions/{version}/infer",
]


def test_schemathesis_sees_every_operation(operations: dict[str, Any]) -> None:
    assert sorted(operations) == sorted(OPERATIONS)


@pytest.mark.parametrize("label", OPERATIONS)
def test_every_endpoint_conforms(operations: dict[str, Any], label: str) -> None:
    @settings(
        max_examples=25, deadline=None, database=None, suppress_health_check=list(HealthCheck)
    )
    @given(case=operations[label].as_strategy())
    def run(case: Any) -> None:
        case.call_and_validate(checks=CHECKS)

    run()


JSON = st.recursive(
    st.none() | st.booleans() | st.integers() | st.floats(allow_nan=True) | st.text(max_size=20),
    lambda children: (
        st.lists(children, max_size=6) | st.dictionaries(st.text(max_size=10), children, max_size=6)
    ),
    max_leaves=40,
)
POST_PATHS = ["/predict", "/feedback", "/v2/models/iris/infer", "/v2/models/iris/versions/v1/infer"]


@settings(
    max_examples=150, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture]
)
@given(
    path=st.sampled_from(POST_PATHS),
    body=JSON,
    content_type=st.sampled_from(["application/json", "text/plain", "application/xml"]),
)
def test_arbitrary_json_never_makes_a_server_error(
    module_app: Flask, path: str, body: Any, content_type: str
) -> None:
    response = module_app.test_client().post(
        path, data=json.dumps(body, allow_nan=True), content_type=content_type
    )
    assert response.status_code < 500, response.get_data(as_text=True)
    payload = response.get_json()
    if response.status_code >= 400:
        assert set(payload) >= {"error", "code"}


@settings(
    max_examples=100, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture]
)
@given(raw=st.binary(max_size=300), path=st.sampled_from([*POST_PATHS, "/config/weights"]))
def test_arbitrary_bytes_are_4xx_json(module_app: Flask, raw: bytes, path: str) -> None:
    client = module_app.test_client()
    method = client.put if path == "/config/weights" else client.post
    response = method(
        path,
        data=raw,
        content_type="application/json",
        headers={"Authorization": "Bearer fuzz-admin-token-0123"},
    )
    assert 400 <= response.status_code < 500
    assert response.status_code != 415
    assert response.is_json


@pytest.mark.parametrize("depth", [1_000, 50_000])
def test_deep_nesting_and_huge_arrays_are_refused(module_app: Flask, depth: int) -> None:
    client = module_app.test_client()
    deep = client.post("/predict", data="[" * depth + "]" * depth, content_type="application/json")
    assert deep.status_code in {400, 413}
    huge = client.post("/predict", json={"instances": [[1.0, 2.0, 3.0, 4.0]] * 5_000})
    assert huge.status_code == 413
    big_number = client.post(
        "/predict", data='{"features": [1e999999, 1, 1, 1]}', content_type="application/json"
    )
    assert big_number.status_code == 400


INFER_PATHS = ["/v2/models/iris/infer", "/v2/models/iris/versions/v1/infer"]


@settings(
    max_examples=150, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture]
)
@given(
    path=st.sampled_from(INFER_PATHS),
    header=JSON,
    raw=st.binary(max_size=200),
    # Header values cannot hold control characters (the client library refuses them).
    length=st.one_of(
        st.integers(-5, 400).map(str),
        st.text(st.characters(min_codepoint=32, max_codepoint=126), max_size=8),
    ),
)
def test_arbitrary_binary_tensor_bodies_are_4xx_json(
    module_app: Flask, path: str, header: Any, raw: bytes, length: str
) -> None:
    """The binary extension: any header length, JSON header and tensor bytes -> never a 5xx."""
    body = json.dumps(header, allow_nan=True).encode() + raw
    response = module_app.test_client().post(
        path, data=body, headers={"Inference-Header-Content-Length": length}
    )
    assert 400 <= response.status_code < 500, response.get_data(as_text=True)
    assert response.is_json
    assert set(response.get_json()) >= {"error", "code"}


@settings(
    max_examples=150, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture]
)
@given(
    rows=st.integers(-1, 210),
    columns=st.integers(0, 6),
    datatype=st.sampled_from(["FP32", "FP64", "INT64", "BYTES"]),
    size=st.one_of(st.none(), st.integers(-8, 8000), st.floats(), st.text(max_size=3)),
    raw=st.binary(max_size=6500),
    binary_out=st.one_of(st.booleans(), st.integers(0, 2)),
)
def test_well_formed_headers_with_arbitrary_tensors_never_make_a_server_error(
    module_app: Flask,
    rows: int,
    columns: int,
    datatype: str,
    size: Any,
    raw: bytes,
    binary_out: Any,
) -> None:
    tensor: dict[str, Any] = {"name": "input", "datatype": datatype, "shape": [rows, columns]}
    tensor["parameters"] = {"binary_data_size": len(raw) if size is None else size}
    header = json.dumps(
        {"inputs": [tensor], "parameters": {"binary_data_output": binary_out}}
    ).encode()
    response = module_app.test_client().post(
        INFER_PATHS[0],
        data=header + raw,
        headers={"Inference-Header-Content-Length": str(len(header))},
    )
    assert response.status_code < 500, response.get_data(as_text=True)
    if response.status_code == 200:
        length = int(response.headers["Inference-Header-Content-Length"])
        assert json.loads(response.get_data()[:length])["outputs"]
    else:
        assert set(response.get_json()) >= {"error", "code"}
