"""Roles, exact token comparison, JSON-only bodies, bounded actor text, and their log events."""

from __future__ import annotations

import json
from typing import Any

import pytest
from flask import Flask
from flask.testing import FlaskClient
from prometheus_client import CollectorRegistry

from mlops_pipeline.api import create_app
from mlops_pipeline.bootstrap import Components
from mlops_pipeline.config import Settings
from mlops_pipeline.protocol.access_log import AccessLog
from tests.support.helpers import ADMIN, ADMIN_TOKEN, FEEDBACK, FEEDBACK_TOKEN, JSON, SETOSA_ROW

WEIGHTS = {"v1": 0.2, "v2": 0.8}


def events(lines: list[bytes], kind: str) -> list[dict[str, Any]]:
    return [record for record in map(json.loads, lines) if record["event"] == kind]


def predict(client: FlaskClient) -> str:
    answer = client.post("/predict", json={"features": SETOSA_ROW}).get_json()
    return str(answer["request_id"])


@pytest.fixture
def build(
    settings: Settings,
    components: Components,
    registry: CollectorRegistry,
    access_lines: list[bytes],
):  # type: ignore[no-untyped-def]
    """An app over the same collaborators with other token settings."""

    def make(**tokens: str | None) -> Flask:
        changed = Settings.model_validate({**settings.model_dump(), **tokens})
        log = AccessLog(write=access_lines.append)
        return create_app(changed, components, registry, access_log=log)

    return make


def test_empty_tokens_disable_both_roles() -> None:
    settings = Settings(admin_token="", feedback_token="")
    assert settings.admin_token is None
    assert settings.feedback_token is None


@pytest.mark.parametrize("presented", ["\u00a0", " ", "", "x"])
def test_an_empty_admin_token_never_opens_the_weights(
    build, access_lines: list[bytes], presented: str
) -> None:  # type: ignore[no-untyped-def]
    client = build(admin_token="").test_client()
    response = client.put(
        "/config/weights", json=WEIGHTS, headers={"Authorization": f"Bearer {presented}"}
    )
    assert (response.status_code, response.get_json()["code"]) == (403, "admin_disabled")
    assert client.get("/config").get_json()["weights"] == {"v1": 0.5, "v2": 0.5}
    assert events(access_lines, "role_disabled")[-1]["role"] == "admin"


@pytest.mark.parametrize(
    "presented",
    [f" {ADMIN_TOKEN}", f"{ADMIN_TOKEN} ", f"{ADMIN_TOKEN}\u00a0", ADMIN_TOKEN.upper()],
    ids=["leading-space", "trailing-space", "trailing-nbsp", "case"],
)
def test_the_token_is_compared_exactly(client: FlaskClient, presented: str) -> None:
    response = client.put(
        "/config/weights", json=WEIGHTS, headers={"Authorization": f"Bearer {presented}"}
    )
    assert (response.status_code, response.get_json()["code"]) == (403, "forbidden")
    assert client.get("/config").get_json()["weights"] == {"v1": 0.5, "v2": 0.5}


@pytest.mark.parametrize("path", ["/predictions", "/config/history"])
def test_listings_that_reveal_others_data_need_the_admin_token(
    client: FlaskClient, path: str
) -> None:
    predict(client)
    assert client.get(path).status_code == 401
    assert client.get(path, headers=FEEDBACK).status_code == 403
    assert client.get(path, headers=ADMIN).status_code == 200


def test_feedback_needs_the_feedback_or_the_admin_token(client: FlaskClient) -> None:
    label = {"request_id": predict(client), "true_label": "setosa"}
    missing = client.post("/feedback", json=label)
    assert (missing.status_code, missing.get_json()["code"]) == (401, "unauthorized")
    wrong = client.post("/feedback", json=label, headers={"Authorization": "Bearer nope"})
    assert (wrong.status_code, wrong.get_json()["code"]) == (403, "forbidden")
    assert client.post("/feedback", json=label, headers=FEEDBACK).status_code == 200
    assert client.post("/feedback", json=label, headers=ADMIN).status_code == 200


def test_feedback_is_disabled_without_a_feedback_token_except_for_admins(build) -> None:  # type: ignore[no-untyped-def]
    client = build(feedback_token=None).test_client()
    label = {"request_id": predict(client), "true_label": "setosa"}
    refused = client.post("/feedback", json=label, headers=FEEDBACK)
    assert (refused.status_code, refused.get_json()["code"]) == (403, "feedback_disabled")
    assert client.post("/feedback", json=label, headers=ADMIN).status_code == 200


def test_the_feedback_token_cannot_change_weights_and_the_denial_is_logged(
    client: FlaskClient, access_lines: list[bytes]
) -> None:
    response = client.put("/config/weights", json=WEIGHTS, headers=FEEDBACK)
    assert response.status_code == 403
    (denied,) = events(access_lines, "role_denied")
    assert denied["role"] == "admin"
    assert denied["path"] == "/config/weights"
    log = b"".join(access_lines).decode()
    assert FEEDBACK_TOKEN not in log
    assert ADMIN_TOKEN not in log


def test_auth_failures_and_weight_changes_are_logged_without_tokens(
    client: FlaskClient, access_lines: list[bytes]
) -> None:
    client.put("/config/weights", json=WEIGHTS, headers={"Authorization": "Bearer guess-guess"})
    client.put("/config/weights", json=WEIGHTS, headers={**ADMIN, "X-Actor": "alice"})
    (failure,) = events(access_lines, "auth_failure")
    assert failure["reason"] == "invalid token"
    (changed,) = events(access_lines, "weights_changed")
    assert changed["actor"] == "alice@127.0.0.1"
    assert changed["new"] == WEIGHTS
    log = b"".join(access_lines).decode()
    assert "guess-guess" not in log
    assert ADMIN_TOKEN not in log


@pytest.mark.parametrize(
    ("method", "path", "body"),
    [
        ("POST", "/predict", {"features": SETOSA_ROW}),
        ("POST", "/feedback", {"request_id": "x", "true_label": 0}),
        ("PUT", "/config/weights", WEIGHTS),
        ("POST", "/v2/models/iris/infer", {"inputs": []}),
    ],
)
@pytest.mark.parametrize(
    "content_type",
    [None, "text/plain", "application/x-www-form-urlencoded", "multipart/form-data", "json"],
)
def test_bodies_must_be_json(
    client: FlaskClient, method: str, path: str, body: Any, content_type: str | None
) -> None:
    headers = {**ADMIN}
    if content_type is not None:
        headers["Content-Type"] = content_type
    response = client.open(path, method=method, data=json.dumps(body), headers=headers)
    if content_type is None and path.startswith("/v2/"):
        # Triton's and KServe's clients send no Content-Type: V2 inference reads it as JSON.
        assert response.get_json()["code"] == "invalid_inference_request"
        return
    assert response.status_code == 415
    assert response.get_json()["code"] == "unsupported_media_type"


@pytest.mark.parametrize(
    "content_type",
    [JSON, "application/json; charset=utf-8", "application/vnd.api+json", "text/x+json"],
)
def test_json_content_types_are_accepted(client: FlaskClient, content_type: str) -> None:
    response = client.post(
        "/predict", data=json.dumps({"features": SETOSA_ROW}), content_type=content_type
    )
    assert response.status_code == 200


@pytest.mark.parametrize("actor", ["bob\x1b[2J", "nul\x00", "bell\x07", "c1\x85", "a" * 65])
def test_actor_text_is_refused_with_control_characters_or_too_long(
    client: FlaskClient, actor: str
) -> None:
    response = client.put("/config/weights", json=WEIGHTS, headers={**ADMIN, "X-Actor": actor})
    assert (response.status_code, response.get_json()["code"]) == (400, "invalid_actor")
    assert client.get("/config").get_json()["weights"] == {"v1": 0.5, "v2": 0.5}


@pytest.mark.parametrize("user_id", ["a\x00b", "escape\x1b", "tab\there", "del\x7f"])
def test_user_ids_with_control_characters_are_refused(client: FlaskClient, user_id: str) -> None:
    in_body = client.post("/predict", json={"features": SETOSA_ROW, "user_id": user_id})
    assert (in_body.status_code, in_body.get_json()["code"]) == (400, "invalid_user_id")
    in_header = client.post(
        "/predict", json={"features": SETOSA_ROW}, headers={"X-User-ID": user_id}
    )
    assert (in_header.status_code, in_header.get_json()["code"]) == (400, "invalid_user_id")
    newline = client.post("/predict", json={"features": SETOSA_ROW, "user_id": "a\nFAKE LINE"})
    assert newline.status_code == 400


def test_one_json_access_line_per_request_with_the_header_request_id(
    client: FlaskClient, access_lines: list[bytes]
) -> None:
    answer = client.post("/predict", json={"features": SETOSA_ROW})
    missing = client.get("/nowhere")
    first, second = (json.loads(line) for line in access_lines)
    assert first["request_id"] == answer.headers["X-Request-ID"]
    assert first["method"] == "POST"
    assert first["route"] == "/predict"
    assert first["status"] == 200
    assert first["model_version"] == answer.get_json()["model_version"]
    assert first["client"] == "127.0.0.1"
    assert first["duration_ms"] > 0
    assert set(first) >= {"time", "request_id", "method", "route", "status", "duration_ms"}
    assert second["route"] == "unmatched"
    assert second["status"] == 404
    assert second["request_id"] == missing.headers["X-Request-ID"]
    assert "model_version" not in second


def test_made_up_methods_become_other_in_metrics_and_log(
    client: FlaskClient, registry: CollectorRegistry, access_lines: list[bytes]
) -> None:
    for index in range(20):
        client.open("/predict", method=f"BREW{index}")
    methods = {
        sample.labels["method"]
        for metric in registry.collect()
        if metric.name == "mlops_requests"
        for sample in metric.samples
    }
    assert methods == {"other"}
    assert {json.loads(line)["method"] for line in access_lines} == {"other"}


def test_access_log_time_is_iso_utc_with_milliseconds() -> None:
    lines: list[bytes] = []
    log = AccessLog(write=lines.append, clock=lambda: 1_700_000_000.25)
    log.request("r", "GET", "/health", 200, 0.1, "127.0.0.1", None)
    log.event("auth_failure", reason="x")
    assert [json.loads(line)["time"] for line in lines] == ["2023-11-14T22:13:20.250Z"] * 2
