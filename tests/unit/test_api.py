from __future__ import annotations

import json
from dataclasses import replace
from typing import Any

import pytest
from flask import Flask
from flask.testing import FlaskClient
from prometheus_client import CollectorRegistry

from mlops_pipeline.api import create_app
from mlops_pipeline.bootstrap import Components
from mlops_pipeline.config import Settings
from mlops_pipeline.serving.service import PredictionService
from tests.support.helpers import ADMIN, FEEDBACK, JSON, SETOSA_ROW, sample


def post(client: FlaskClient, body: Any, **kwargs: Any):  # type: ignore[no-untyped-def]
    data = body if isinstance(body, str | bytes) else json.dumps(body)
    kwargs.setdefault("content_type", JSON)
    return client.post("/predict", data=data, **kwargs)


def test_single_prediction(client: FlaskClient) -> None:
    response = post(client, {"features": SETOSA_ROW})
    assert response.status_code == 200
    body = response.get_json()
    assert set(body) == {
        "request_id",
        "prediction",
        "class_name",
        "probabilities",
        "model_version",
        "latency_ms",
    }
    assert (body["prediction"], body["class_name"]) == (0, "setosa")
    assert len(body["probabilities"]) == 3
    assert sum(body["probabilities"]) == pytest.approx(1.0)
    assert body["model_version"] in {"v1", "v2"}
    assert body["latency_ms"] > 0
    assert response.headers["X-Request-ID"] == body["request_id"]
    assert len(body["request_id"]) == 32


def test_prediction_by_feature_name(client: FlaskClient) -> None:
    named = {"sepal_length": 6.7, "sepal_width": 3.0, "petal_length": 5.2, "petal_width": 2.3}
    response = post(client, {"features": named}, content_type="application/json; charset=utf-8")
    assert response.get_json()["class_name"] == "virginica"


def test_batch_prediction(client: FlaskClient) -> None:
    response = post(client, {"instances": [SETOSA_ROW, [6.7, 3.0, 5.2, 2.3]]})
    body = response.get_json()
    assert body["predictions"] == [0, 2]
    assert body["class_names"] == ["setosa", "virginica"]
    assert len(body["probabilities"]) == 2
    assert body["model_version"] in {"v1", "v2"}


def test_user_id_header_makes_routing_sticky(client: FlaskClient) -> None:
    versions = {
        post(client, {"features": SETOSA_ROW}, headers={"X-User-ID": "bob"}).get_json()[
            "model_version"
        ]
        for _ in range(10)
    }
    assert versions == {"v2"}  # bob's bucket 8650 of 10,000 is in v2's half


def test_seeded_router_splits_traffic(client: FlaskClient) -> None:
    versions = [
        post(client, {"features": SETOSA_ROW}).get_json()["model_version"] for _ in range(400)
    ]
    # Binomial(400, 0.5): sd 10; 4 sd either way.
    assert 160 <= versions.count("v1") <= 240


@pytest.mark.parametrize(
    ("body", "status", "code"),
    [
        ("{not json", 400, "invalid_json"),
        (b"\xff\xfe\x00garbage", 400, "invalid_json"),
        ("", 400, "invalid_json"),
        ({"feature": SETOSA_ROW}, 400, "missing_features"),
        ([1, 2, 3, 4], 400, "missing_features"),
        ({"features": [1, 2, 3]}, 400, "wrong_feature_count"),
        ({"features": [1, 2, 3, "x"]}, 400, "invalid_feature_value"),
        ({"features": [1, 2, 3, False]}, 400, "invalid_feature_value"),
        ('{"features": [1, 2, 3, NaN]}', 400, "invalid_feature_value"),
        ('{"features": [1, 2, 3, Infinity]}', 400, "invalid_feature_value"),
        ('{"features": [1, 2, 3, 1e999]}', 400, "invalid_feature_value"),
        (
            {"features": {"sepal_length": 1, "sepal_width": 1, "petal_length": 1, "colour": 1}},
            400,
            "invalid_feature_value",
        ),
        ({"features": SETOSA_ROW, "user_id": {"a": 1}}, 400, "invalid_user_id"),
        ({"instances": [SETOSA_ROW] * 501}, 413, "batch_too_large"),
        ("[" * 100_000 + "]" * 100_000, 413, "payload_too_large"),
        ("[" * 30_000 + "]" * 30_000, 400, "invalid_json"),
    ],
    ids=[
        "broken",
        "bad-utf8",
        "empty",
        "no-features",
        "array-body",
        "three-values",
        "string",
        "boolean",
        "nan",
        "infinity",
        "overflow",
        "unknown-name",
        "bad-user",
        "batch-limit",
        "body-limit",
        "deep-nesting",
    ],
)
def test_errors_follow_diagram_12(
    client: FlaskClient, registry: CollectorRegistry, body: Any, status: int, code: str
) -> None:
    before = sample(registry, "mlops_errors_total", code=code)
    response = post(client, body)
    assert response.status_code == status
    assert response.is_json
    payload = response.get_json()
    assert set(payload) == {"error", "code"}
    assert payload["code"] == code
    assert "Traceback" not in payload["error"]
    assert sample(registry, "mlops_errors_total", code=code) == before + 1


def test_unknown_route_and_wrong_method_are_json(
    client: FlaskClient, registry: CollectorRegistry
) -> None:
    missing = client.get("/nope")
    assert (missing.status_code, missing.get_json()["code"]) == (404, "not_found")
    wrong = client.get("/predict")
    assert (wrong.status_code, wrong.get_json()["code"]) == (405, "method_not_allowed")
    assert sample(registry, "mlops_errors_total", code="not_found") == 1
    assert (
        sample(registry, "mlops_requests_total", endpoint="unmatched", method="GET", status="404")
        == 1
    )


class BrokenPredictor:
    n_features = 4

    def predict(self, features: Any) -> Any:
        raise RuntimeError("secret internal detail")


def test_unexpected_failure_is_500_with_request_id_and_no_traceback(
    settings: Settings,
    service: PredictionService,
    registry: CollectorRegistry,
    components: Components,
) -> None:
    service._predictors = {"v1": BrokenPredictor(), "v2": BrokenPredictor()}  # type: ignore[dict-item]
    client = create_app(settings, components, registry).test_client()
    response = post(client, {"features": SETOSA_ROW})
    assert response.status_code == 500
    body = response.get_json()
    assert body["code"] == "internal_error"
    assert body["request_id"] == response.headers["X-Request-ID"]
    assert "secret internal detail" not in response.get_data(as_text=True)
    assert sample(registry, "mlops_errors_total", code="internal_error") == 1
    assert service.recent_predictions(5) == []  # nothing answered, nothing logged


def test_health_ready_config_models(client: FlaskClient) -> None:
    assert client.get("/health").get_json() == {"status": "ok"}
    assert client.get("/ready").get_json() == {"status": "ready", "versions": ["v1", "v2"]}
    config = client.get("/config").get_json()
    assert config["weights"] == {"v1": 0.5, "v2": 0.5}
    assert config["feature_names"] == ["sepal_length", "sepal_width", "petal_length", "petal_width"]
    models = client.get("/models").get_json()
    assert models["v1"]["params"]["n_estimators"] == 50
    assert models["v2"]["params"]["n_estimators"] == 100
    assert "accuracy" in models["v2"]["evaluation"]


def test_ready_is_503_when_models_are_not_loaded(
    settings: Settings,
    service: PredictionService,
    registry: CollectorRegistry,
    components: Components,
) -> None:
    service._predictors = {}
    response = create_app(settings, components, registry).test_client().get("/ready")
    assert response.status_code == 503
    assert response.get_json()["code"] == "not_ready"


def test_predictions_endpoint_returns_the_newest_rows(client: FlaskClient) -> None:
    ids = [
        post(client, {"features": SETOSA_ROW, "user_id": "u1"}).get_json()["request_id"]
        for _ in range(3)
    ]
    body = client.get("/predictions?limit=2", headers=ADMIN).get_json()
    assert body["count"] == 2
    assert [row["request_id"] for row in body["predictions"]] == ids[:0:-1]
    assert body["predictions"][0]["user_id"] == "u1"


@pytest.mark.parametrize("limit", ["0", "1001", "abc", "-5"])
def test_predictions_limit_is_validated(client: FlaskClient, limit: str) -> None:
    response = client.get(f"/predictions?limit={limit}", headers=ADMIN)
    assert (response.status_code, response.get_json()["code"]) == (400, "invalid_parameter")


def test_metrics_endpoint_exposes_every_metric(client: FlaskClient) -> None:
    post(client, {"features": SETOSA_ROW})
    text = client.get("/metrics").get_data(as_text=True)
    for name in (
        "mlops_requests_total",
        "mlops_request_latency_seconds_bucket",
        "mlops_predictions_total",
        "mlops_inference_latency_seconds_bucket",
        "mlops_errors_total",
        "mlops_ab_weight",
        "mlops_model_info",
    ):
        assert name in text
    assert 'mlops_requests_total{endpoint="/predict",method="POST",status="200"} 1.0' in text


def test_app_factory_builds_independent_apps(
    app: Flask, settings: Settings, components: Components
) -> None:
    other_registry = CollectorRegistry()
    other = create_app(settings, components, other_registry)
    assert other is not app
    assert other.config["MAX_CONTENT_LENGTH"] == settings.max_body_bytes


def test_drift_endpoint_reports_warming_up_then_state(client: FlaskClient) -> None:
    first = client.get("/drift").get_json()
    assert (first["status"], first["window_size"], first["min_window"]) == ("warming_up", 0, 30)
    for row in ([5.1, 3.5, 1.4, 0.2], [6.7, 3.0, 5.2, 2.3], [5.9, 3.0, 4.2, 1.5]) * 12:
        post(client, {"features": row})
    report = client.get("/drift").get_json()
    assert report["window_size"] == 36
    assert report["status"] in {"ok", "drift"}
    assert set(report["features"]) == {"sepal_length", "sepal_width", "petal_length", "petal_width"}
    assert 0.0 <= report["score"] <= 1.0


def test_rejected_inputs_are_recorded_for_drift(client: FlaskClient) -> None:
    for _ in range(20):
        post(client, {"features": SETOSA_ROW})
    for _ in range(3):
        post(client, '{"features": [1, 2, 3, NaN]}')
    post(client, {"features": [1, 2]})
    post(client, "{not json")  # not an input at all: not counted
    for _ in range(20):
        post(client, {"features": SETOSA_ROW})
    # Counted while the window's 40 rows arrived.
    assert client.get("/drift").get_json()["bad_values"]["rejected"] == 4


def test_drift_without_a_prediction_log_is_503(
    settings: Settings, components: Components, registry: CollectorRegistry
) -> None:
    without_log = replace(components, monitor=None)
    response = create_app(settings, without_log, registry).test_client().get("/drift")
    assert (response.status_code, response.get_json()["code"]) == (503, "drift_unavailable")


@pytest.mark.parametrize(
    ("pragma", "message"),
    [("max_page_count = {pages}", "full"), ("query_only = ON", "readonly")],
    ids=["disk-full", "read-only"],
)
def test_unwritable_log_fails_fast_with_503_and_is_counted(
    client: FlaskClient,
    service: PredictionService,
    components: Components,
    registry: CollectorRegistry,
    pragma: str,
    message: str,
) -> None:
    assert post(client, {"features": SETOSA_ROW}).status_code == 200
    assert components.storage is not None
    database = components.storage.database
    connection = database._connection()  # type: ignore[attr-defined]  # this thread's connection
    pages = connection.execute("PRAGMA page_count").fetchone()[0]
    connection.execute(f"PRAGMA {pragma.format(pages=pages)}")
    response = post(client, {"instances": [SETOSA_ROW] * 400})
    assert (response.status_code, response.get_json()["code"]) == (503, "log_unavailable")
    assert message in response.get_json()["error"]
    assert sample(registry, "mlops_prediction_log_failures_total") == 1
    assert sample(registry, "mlops_errors_total", code="log_unavailable") == 1
    assert len(service.recent_predictions(1000)) == 1  # nothing answered went unlogged


def test_an_unwritable_database_never_turns_a_client_mistake_into_a_5xx_or_a_traceback(
    client: FlaskClient, components: Components, registry: CollectorRegistry
) -> None:
    answer = post(client, {"features": SETOSA_ROW}).get_json()
    assert components.storage is not None
    connection = components.storage.database._connection()  # type: ignore[attr-defined]
    connection.execute("PRAGMA query_only = ON")
    # A bad input is still the client's 400 (its rejection is recorded on a best-effort basis).
    bad = post(client, {"features": [1, 2, 3]})
    assert (bad.status_code, bad.get_json()["code"]) == (400, "wrong_feature_count")
    # What needs a write is a 503 with the usual JSON body, never a 500.
    label = {"request_id": answer["request_id"], "true_label": "setosa"}
    feedback = client.post("/feedback", json=label, headers=FEEDBACK)
    weights = client.put("/config/weights", json={"v1": 0.2, "v2": 0.8}, headers=ADMIN)
    for response in (feedback, weights):
        assert (response.status_code, response.get_json()["code"]) == (503, "storage_unavailable")
        assert "Traceback" not in response.get_data(as_text=True)
    assert sample(registry, "mlops_errors_total", code="internal_error") == 0
    assert sample(registry, "mlops_errors_total", code="storage_unavailable") == 2
