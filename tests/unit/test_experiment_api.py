"""Feedback, the experiment verdict and runtime weights through the app factory."""

from __future__ import annotations

import json
import random
from collections.abc import Iterator
from typing import Any

import pytest
from flask.testing import FlaskClient
from prometheus_client import CollectorRegistry

from mlops_pipeline.api import create_app
from mlops_pipeline.bootstrap import Components, build_components
from mlops_pipeline.config import Settings, database_url
from mlops_pipeline.experiment.service import ExperimentService
from mlops_pipeline.monitoring.metrics import Metrics
from mlops_pipeline.serving.service import PredictionService
from mlops_pipeline.storage.schema import upgrade
from tests.support.helpers import ADMIN, FEEDBACK, JSON, SETOSA_ROW, sample

VERSICOLOR_ROW = [5.9, 3.0, 4.2, 1.5]


def predict(client: FlaskClient, row: list[float], **extra: Any) -> dict[str, Any]:
    body: dict[str, Any] = client.post("/predict", json={"features": row, **extra}).get_json()
    return body


def label(client: FlaskClient, body: Any):  # type: ignore[no-untyped-def]
    return client.post("/feedback", data=json.dumps(body), content_type=JSON, headers=FEEDBACK)


def test_feedback_joins_the_logged_prediction(
    client: FlaskClient, registry: CollectorRegistry
) -> None:
    answer = predict(client, SETOSA_ROW)
    response = label(client, {"request_id": answer["request_id"], "true_label": "setosa"})
    assert response.status_code == 200
    assert response.get_json() == {
        "request_id": answer["request_id"],
        "row_index": 0,
        "model_version": answer["model_version"],
        "predicted": 0,
        "true_label": 0,
        "correct": True,
    }
    assert (
        sample(
            registry, "mlops_feedback_total", model_version=answer["model_version"], correct="true"
        )
        == 1
    )


def test_second_label_replaces_the_first_and_counts_once(
    client: FlaskClient, registry: CollectorRegistry
) -> None:
    answer = predict(client, SETOSA_ROW)
    label(client, {"request_id": answer["request_id"], "true_label": 0})
    second = label(client, {"request_id": answer["request_id"], "true_label": 2}).get_json()
    assert second["correct"] is False
    version = answer["model_version"]
    report = client.get("/experiment").get_json()["versions"][version]
    assert report["labelled"] == 1
    assert report["accuracy"] == 0.0
    assert report["confusion_matrix"][2][0] == 1  # true virginica predicted setosa
    total = sum(
        sample(registry, "mlops_feedback_total", model_version=version, correct=c)
        for c in ("true", "false")
    )
    assert total == 1


def test_batch_feedback_is_all_or_nothing(client: FlaskClient) -> None:
    answers = [predict(client, SETOSA_ROW) for _ in range(2)]
    body = [{"request_id": a["request_id"], "true_label": 0} for a in answers]
    unknown = [*body, {"request_id": "does-not-exist", "true_label": 0}]
    response = label(client, unknown)
    assert (response.status_code, response.get_json()["code"]) == (404, "unknown_request")
    assert (
        sum(v["labelled"] for v in client.get("/experiment").get_json()["versions"].values()) == 0
    )
    assert len(label(client, body).get_json()) == 2


def test_feedback_for_a_batch_row(client: FlaskClient) -> None:
    answer = client.post("/predict", json={"instances": [SETOSA_ROW, VERSICOLOR_ROW]}).get_json()
    response = label(
        client, {"request_id": answer["request_id"], "row_index": 1, "true_label": "versicolor"}
    )
    assert response.get_json()["predicted"] == 1
    missing = label(client, {"request_id": answer["request_id"], "row_index": 2, "true_label": 1})
    assert missing.status_code == 404


@pytest.mark.parametrize(
    ("body", "status", "code"),
    [
        ({"request_id": "x"}, 400, "invalid_feedback"),
        ({"request_id": 5, "true_label": 0}, 400, "invalid_feedback"),
        ({"request_id": "x", "true_label": 7}, 400, "invalid_label"),
        ({"request_id": "x", "true_label": "rose"}, 400, "invalid_label"),
        ({"request_id": "x", "true_label": True}, 400, "invalid_label"),
        ({"request_id": "x", "row_index": -1, "true_label": 0}, 400, "invalid_feedback"),
        ([], 400, "invalid_feedback"),
        ({"request_id": "nope", "true_label": 0}, 404, "unknown_request"),
    ],
)
def test_feedback_errors(client: FlaskClient, body: Any, status: int, code: str) -> None:
    response = label(client, body)
    assert (response.status_code, response.get_json()["code"]) == (status, code)


def test_experiment_report_shape(client: FlaskClient) -> None:
    for _ in range(10):
        answer = predict(client, VERSICOLOR_ROW)
        label(client, {"request_id": answer["request_id"], "true_label": 1})
    report = client.get("/experiment").get_json()
    assert report["champion"] == "v1"
    assert set(report["versions"]) == {"v1", "v2"}
    v1 = report["versions"]["v1"]
    assert {
        "served",
        "weight",
        "traffic_share",
        "labelled",
        "accuracy",
        "accuracy_interval",
        "confusion_matrix",
        "latency_ms_p50",
        "latency_ms_p99",
    } <= set(v1)
    assert sum(v["served"] for v in report["versions"].values()) == 10
    comparison = report["comparisons"][0]
    assert (comparison["champion"], comparison["challenger"]) == ("v1", "v2")
    assert comparison["decision"] == "continue"
    assert report["decision"]["decision"] == "continue"
    assert "at least 100" in report["decision"]["reason"]
    assert report["sample_ratio"]["mismatch"] is False


def test_change_weights_applies_persists_and_is_audited(
    client: FlaskClient,
    registry: CollectorRegistry,
    settings: Settings,
    experiment: ExperimentService,
) -> None:
    response = client.put(
        "/config/weights", json={"v1": 0.0, "v2": 1.0}, headers={**ADMIN, "X-Actor": "alice"}
    )
    assert response.status_code == 200
    assert response.get_json() == {"weights": {"v1": 0.0, "v2": 1.0}}
    assert {predict(client, SETOSA_ROW)["model_version"] for _ in range(20)} == {"v2"}
    assert client.get("/config").get_json()["weights"] == {"v1": 0.0, "v2": 1.0}
    assert sample(registry, "mlops_ab_weight", model_version="v2") == 1.0
    history = client.get("/config/history", headers=ADMIN).get_json()["changes"]
    assert len(history) == 1
    assert history[0]["old"] == {"v1": 0.5, "v2": 0.5}
    assert history[0]["new"] == {"v1": 0.0, "v2": 1.0}
    assert history[0]["actor"].startswith("alice@")


@pytest.mark.parametrize(
    ("body", "code"),
    [
        ({"v1": -0.1, "v2": 1.1}, "invalid_weights"),
        ({"v1": 0.3, "v2": 0.3}, "invalid_weights"),
        ({"v1": 0.5, "v9": 0.5}, "unknown_version"),
        ({"v1": "half", "v2": 0.5}, "invalid_weights"),
        ({"v1": True, "v2": 0}, "invalid_weights"),
        ([0.5, 0.5], "invalid_weights"),
        ({}, "invalid_weights"),
    ],
)
def test_malformed_weights_are_400_and_change_nothing(
    client: FlaskClient, body: Any, code: str
) -> None:
    response = client.put(
        "/config/weights", data=json.dumps(body), content_type=JSON, headers=ADMIN
    )
    assert (response.status_code, response.get_json()["code"]) == (400, code)
    assert client.get("/config").get_json()["weights"] == {"v1": 0.5, "v2": 0.5}
    assert client.get("/config/history", headers=ADMIN).get_json()["changes"] == []


@pytest.mark.parametrize(
    ("headers", "status", "code"),
    [
        ({}, 401, "unauthorized"),
        ({"Authorization": "Basic dGVzdA=="}, 401, "unauthorized"),
        ({"Authorization": "Bearer wrong"}, 403, "forbidden"),
        ({"Authorization": "Bearer test-admin-token-and-more"}, 403, "forbidden"),
    ],
)
def test_weights_need_the_admin_token(
    client: FlaskClient, headers: dict[str, str], status: int, code: str
) -> None:
    response = client.put("/config/weights", json={"v1": 0.2, "v2": 0.8}, headers=headers)
    assert (response.status_code, response.get_json()["code"]) == (status, code)
    assert client.get("/config").get_json()["weights"] == {"v1": 0.5, "v2": 0.5}


def test_admin_is_disabled_without_a_configured_token(
    settings: Settings,
    components: Components,
    registry: CollectorRegistry,
) -> None:
    open_settings = settings.model_copy(update={"admin_token": None})
    client = create_app(open_settings, components, registry).test_client()
    response = client.put("/config/weights", json={"v1": 0.2, "v2": 0.8}, headers=ADMIN)
    assert (response.status_code, response.get_json()["code"]) == (403, "admin_disabled")
    assert "disabled" in response.get_json()["error"]


def test_sample_ratio_mismatch_is_flagged(
    client: FlaskClient, registry: CollectorRegistry, service: PredictionService
) -> None:
    # Sticky users all hashed to v1 skew the split far from 50/50.
    v1_users = [f"user-{n}" for n in range(400) if service.router.choose(f"user-{n}") == "v1"]
    for user in v1_users[:120]:
        predict(client, SETOSA_ROW, user_id=user)
    report = client.get("/experiment").get_json()
    assert report["sample_ratio"]["mismatch"] is True
    assert report["sample_ratio"]["pvalue"] < 0.001
    assert sample(registry, "mlops_sample_ratio_mismatch") == 1


def test_one_sticky_user_sent_many_times_is_one_unit_of_the_sample_ratio(
    client: FlaskClient, registry: CollectorRegistry, service: PredictionService
) -> None:
    # 120 requests of one user all land on v1: one randomization unit, not a 120-to-0 mismatch.
    user = next(f"user-{n}" for n in range(400) if service.router.choose(f"user-{n}") == "v1")
    for _ in range(120):
        predict(client, SETOSA_ROW, user_id=user)
    report = client.get("/experiment").get_json()
    assert report["sample_ratio"]["requests"] == {"v1": 1}
    assert report["sample_ratio"]["mismatch"] is False
    assert report["versions"]["v1"]["served"] == 120  # traffic is still reported in requests
    assert sample(registry, "mlops_sample_ratio_mismatch") == 0


@pytest.fixture
def shadowed(settings: Settings) -> Iterator[tuple[Components, CollectorRegistry]]:
    """v1 takes all traffic; v2 scores every request in the shadow."""
    registry = CollectorRegistry()
    shadow_settings = settings.model_copy(
        update={"shadow_version": "v2", "ab_weights": {"v1": 1.0, "v2": 0.0}}
    )
    upgrade(database_url(shadow_settings))
    components = build_components(shadow_settings, Metrics(registry), rng=random.Random(1))
    yield components, registry
    components.close()


def test_shadow_scores_in_the_background_and_reports_agreement(
    settings: Settings, shadowed: tuple[Components, CollectorRegistry]
) -> None:
    components, registry = shadowed
    service = components.service
    assert service.shadow is not None
    client = create_app(settings, components, registry).test_client()
    answers = [predict(client, row) for row in (SETOSA_ROW, VERSICOLOR_ROW) * 20]
    assert {a["model_version"] for a in answers} == {"v1"}  # the response is the primary's
    service.shadow.drain()
    shadow = client.get("/experiment").get_json()["shadow"]
    assert shadow["v2"]["rows"] == 40
    assert shadow["v2"]["agreement"] == 1.0  # v1 and v2 agree on these clear cases
    assert (
        sample(registry, "mlops_shadow_predictions_total", model_version="v2", agree="true") == 40
    )


def test_pinned_traffic_is_reported_apart_and_cannot_steer_the_experiment(
    client: FlaskClient,
) -> None:
    routed = [infer(client, "/v2/models/iris/infer") for _ in range(40)]
    pinned = [infer(client, "/v2/models/iris/versions/v2/infer") for _ in range(300)]
    labels = [{"request_id": a["id"], "true_label": "versicolor"} for a in routed] + [
        {"request_id": a["id"], "true_label": "setosa"} for a in pinned
    ]
    assert client.post("/feedback", json=labels, headers=FEEDBACK).status_code == 200
    report = client.get("/experiment").get_json()
    routed_v2 = sum(a["model_version"] == "v2" for a in routed)
    assert report["versions"]["v2"]["served"] == routed_v2
    assert report["versions"]["v1"]["served"] + routed_v2 == 40
    assert report["versions"]["v2"]["labelled"] == routed_v2
    assert report["versions"]["v2"]["accuracy"] == 0.0  # only the routed (wrong) labels count
    assert report["sample_ratio"]["mismatch"] is False
    assert sum(report["sample_ratio"]["requests"].values()) == 40
    assert not report["decision"]["decision"].startswith("promote")
    assert report["pinned"] == {"v2": {"served": 300, "labelled": 300, "accuracy": 1.0}}
    logged = client.get("/predictions?limit=1", headers=ADMIN).get_json()["predictions"]
    assert logged[0]["assignment"] == "pinned"


def infer(client: FlaskClient, path: str) -> dict[str, Any]:
    """A V2 answer with the logged request id (the X-Request-ID header) as its "id"."""
    tensor = {"name": "input", "shape": [1, 4], "datatype": "FP64", "data": SETOSA_ROW}
    response = client.post(path, json={"inputs": [tensor]})
    return {**response.get_json(), "id": response.headers["X-Request-ID"]}
