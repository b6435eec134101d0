"""Rollouts through the app: start, read, abort, manual weights refused, decisions applied."""

from __future__ import annotations

from typing import Any

import pytest
from flask.testing import FlaskClient
from prometheus_client import CollectorRegistry

from mlops_pipeline.bootstrap import Components
from tests.support.helpers import ADMIN, FEEDBACK, sample

ROWS = {0: [5.1, 3.5, 1.4, 0.2], 1: [5.9, 3.0, 4.2, 1.5], 2: [6.7, 3.0, 5.2, 2.3]}
PLAN = {
    "candidate": "v2",
    "baseline": "v1",
    "steps": [0.2, 0.5, 1.0],
    "min_labels_per_step": 20,
    "guardrails": {"max_error_rate": 0.05, "max_p99_ms": 1000, "max_accuracy_drop": 0.05},
}


def test_start_read_abort_and_history(client: FlaskClient, access_lines: list[bytes]) -> None:
    assert client.get("/rollouts/current").status_code == 404
    assert client.post("/rollouts", json=PLAN).status_code == 401
    assert client.post("/rollouts", json=PLAN, headers=FEEDBACK).status_code == 403
    started = client.post("/rollouts", json=PLAN, headers=ADMIN)
    assert started.status_code == 201
    body = started.get_json()
    assert (body["state"], body["step"], body["step_share"]) == ("running", 0, 0.2)
    assert body["weights"] == {"v2": 0.2, "v1": 0.8}
    assert client.get("/config").get_json()["weights"] == {"v1": 0.8, "v2": 0.2}
    again = client.post("/rollouts", json=PLAN, headers=ADMIN)
    assert (again.status_code, again.get_json()["code"]) == (409, "rollout_in_progress")
    manual = client.put("/config/weights", json={"v1": 1.0}, headers=ADMIN)
    assert (manual.status_code, manual.get_json()["code"]) == (409, "rollout_in_progress")
    assert client.get("/rollouts/current").get_json()["id"] == body["id"]
    aborted = client.post("/rollouts/current/abort", headers=ADMIN).get_json()
    assert aborted["state"] == "aborted"
    assert aborted["actor"] == "admin@127.0.0.1"  # admins see who acted; others do not
    assert client.get("/rollouts").get_json()["rollouts"][0]["actor"] is None
    assert "admin" not in str(client.get("/rollouts").get_json())
    assert [e["event"] for e in aborted["events"]] == ["started", "aborted"]
    assert client.get("/config").get_json()["weights"] == {"v1": 0.5, "v2": 0.5}
    assert client.post("/rollouts/current/abort", headers=ADMIN).status_code == 404
    history = client.get("/rollouts?limit=5").get_json()["rollouts"]
    assert [r["state"] for r in history] == ["aborted"]
    assert client.get("/rollouts?limit=0").status_code == 400
    assert b'"event":"rollout_started"' in b"".join(access_lines)


def test_manual_weights_may_abort_the_rollout(client: FlaskClient) -> None:
    client.post("/rollouts", json=PLAN, headers=ADMIN)
    changed = client.put("/config/weights?abort_rollout=true", json={"v1": 1.0}, headers=ADMIN)
    assert changed.status_code == 200
    assert client.get("/rollouts/current").status_code == 404
    assert client.get("/config").get_json()["weights"] == {"v1": 1.0, "v2": 0.0}


@pytest.mark.parametrize(
    ("plan", "message"),
    [({**PLAN, "candidate": "v9"}, "candidate must be"), ([1, 2], "JSON object")],
)
def test_bad_plans_are_400(client: FlaskClient, plan: Any, message: str) -> None:
    response = client.post("/rollouts", json=plan, headers=ADMIN)
    assert (response.status_code, response.get_json()["code"]) == (400, "invalid_rollout")
    assert message in response.get_json()["error"]


def traffic(
    client: FlaskClient, requests: int, candidate_right: bool, baseline_right: bool
) -> None:
    """Predict, then label each answer right or wrong by the version that answered it."""
    for index in range(requests):
        true_class = index % 3
        answer = client.post("/predict", json={"features": ROWS[true_class]}).get_json()
        right = candidate_right if answer["model_version"] == "v2" else baseline_right
        label = true_class if right else (true_class + 1) % 3
        client.post(
            "/feedback",
            json={"request_id": answer["request_id"], "true_label": label},
            headers=FEEDBACK,
        )


def test_a_worse_candidate_is_rolled_back_with_its_audit(
    client: FlaskClient, components: Components, registry: CollectorRegistry
) -> None:
    rollouts = components.rollouts
    assert rollouts is not None
    client.post("/rollouts", json=PLAN, headers=ADMIN)
    for _ in range(10):
        traffic(client, 60, candidate_right=False, baseline_right=True)
        decision = rollouts.tick()
        assert decision is not None
        if decision["action"] == "rolled_back":
            break
    assert decision["action"] == "rolled_back"
    assert "shown worse" in decision["reason"]
    assert client.get("/rollouts/current").status_code == 404
    last = client.get("/rollouts?limit=1").get_json()["rollouts"][0]
    assert last["state"] == "rolled_back"
    assert [e["event"] for e in last["events"]] == ["started", "rolled_back"]
    # The split from before, with the failed candidate's share moved to the baseline.
    assert last["events"][-1]["weights"] == {"v1": 1.0}
    assert last["evidence"]["action"] == "rolled_back"  # the evidence that decided it
    components.experiment.sync_weights()  # type: ignore[union-attr]
    assert components.service.router.weights == {"v1": 1.0, "v2": 0.0}
    assert sample(registry, "mlops_rollout_transitions_total", event="rolled_back") == 1
    assert sample(registry, "mlops_rollout_state", state="rolled_back") == 1


def test_a_better_candidate_is_promoted_step_by_step(
    client: FlaskClient, components: Components, registry: CollectorRegistry
) -> None:
    rollouts = components.rollouts
    assert rollouts is not None
    client.post("/rollouts", json=PLAN, headers=ADMIN)
    actions = []
    for _ in range(30):
        traffic(client, 60, candidate_right=True, baseline_right=False)
        components.experiment.sync_weights()  # type: ignore[union-attr]
        decision = rollouts.tick()
        assert decision is not None
        actions.append(decision["action"])
        if decision["action"] in ("promote", "rolled_back"):
            break
    assert actions[-1] == "promote", actions
    assert "advance" in actions
    last = client.get("/rollouts?limit=1").get_json()["rollouts"][0]
    assert last["state"] == "promoted"
    assert [e["event"] for e in last["events"]] == ["started", "advance", "promote"]
    assert last["events"][-1]["weights"] == {"v2": 1.0}
    assert sample(registry, "mlops_rollout_step") == 2
    assert sample(registry, "mlops_rollout_state", state="promoted") == 1
