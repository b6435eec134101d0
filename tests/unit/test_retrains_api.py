"""POST/GET /retrains (the API queues, the monitor runs) and the monitor's Alertmanager webhook."""

from __future__ import annotations

import json
import socket
import time
from typing import Any

import pytest
import requests
from flask.testing import FlaskClient
from prometheus_client import CollectorRegistry

from mlops_pipeline.bootstrap import Components
from mlops_pipeline.monitoring.alert_webhook import DriftWebhook
from mlops_pipeline.monitoring.leader import status_server
from mlops_pipeline.storage import Storage
from mlops_pipeline.storage.retrains import QUEUED, REFUSED
from tests.support.helpers import ADMIN, FEEDBACK, sample

TOKEN = "webhook-token-0123456789"
BEARER = f"Bearer {TOKEN}"


def test_admin_queues_a_run_and_anyone_lists_it_without_names(client: FlaskClient) -> None:
    response = client.post("/retrains", json={"since_days": 7, "rollout": True}, headers=ADMIN)
    assert response.status_code == 202
    run = response.get_json()
    assert (run["status"], run["trigger"], run["rollout"], run["since_days"]) == (
        QUEUED, "api", True, 7.0,
    )  # fmt: skip
    assert run["actor"] == "admin@127.0.0.1"
    again = client.post("/retrains", json={}, headers=ADMIN)
    assert (again.status_code, again.get_json()["code"]) == (409, "retrain_in_progress")
    (listed,) = client.get("/retrains").get_json()["retrains"]
    assert (listed["id"], listed["actor"]) == (run["id"], None)
    assert (
        client.get("/retrains", headers=ADMIN).get_json()["retrains"][0]["actor"]
        == "admin@127.0.0.1"
    )


@pytest.mark.parametrize(
    ("body", "message"),
    [
        ([], "JSON object"),
        ({"versions": "v3"}, "unknown fields ['versions']"),
        ({"version": "../etc"}, "version must be"),
        ({"version": 3}, "version must be"),
        ({"since_days": 0}, "since_days"),
        ({"since_days": True}, "since_days"),
        ({"since_days": 1e9}, "since_days"),
        ({"rollout": "yes"}, "rollout must be"),
    ],
)
def test_bad_requests_are_400(client: FlaskClient, body: Any, message: str) -> None:
    response = client.post("/retrains", json=body, headers=ADMIN)
    assert (response.status_code, response.get_json()["code"]) == (400, "invalid_retrain")
    assert message in response.get_json()["error"]
    assert client.get("/retrains").get_json()["retrains"] == []  # nothing queued


def test_only_the_admin_queues(client: FlaskClient) -> None:
    assert client.post("/retrains", json={}).status_code == 401
    assert client.post("/retrains", json={}, headers=FEEDBACK).status_code == 403
    bad_limit = client.get("/retrains?limit=0")
    assert (bad_limit.status_code, bad_limit.get_json()["code"]) == (400, "invalid_parameter")


def test_the_monitor_runs_a_queued_run(
    client: FlaskClient, components: Components, settings: Any, registry: CollectorRegistry
) -> None:
    """The leader's task claims the run and records how it ended (too few labels here)."""
    from mlops_pipeline.retraining.worker import RetrainWorker

    assert components.storage is not None
    run = client.post("/retrains", json={}, headers=ADMIN).get_json()
    worker = RetrainWorker(
        components.storage.retrains,
        components.retrainer(settings),
        finished=components.service.metrics.count_retrain,
    )
    worker.tick()
    worker.join(timeout=30)
    (done,) = client.get("/retrains").get_json()["retrains"]
    assert (done["id"], done["status"]) == (run["id"], REFUSED)
    assert "too few labels: 0" in done["message"]  # a refusal's reason is for everyone
    assert done["started_at"] >= done["requested_at"]
    assert done["finished_at"] >= done["started_at"]
    assert sample(registry, "mlops_retrain_runs_total", trigger="api", outcome="refused") == 1
    # The slot is free again.
    assert client.post("/retrains", json={}, headers=ADMIN).status_code == 202


# --- the monitor's Alertmanager webhook -------------------------------------------------------


def alert(status: str = "firing", name: str = "DriftDetected") -> bytes:
    return json.dumps(
        {
            "status": status,
            "alerts": [
                {"status": status, "labels": {"alertname": name, "severity": "warning"},
                 "startsAt": "2026-11-27T05:00:00Z"},
            ],
        }
    ).encode()  # fmt: skip


class Clock:
    def __init__(self) -> None:
        self.now = 1_000.0

    def __call__(self) -> float:
        return self.now


def test_webhook_queues_on_a_firing_drift_alert_then_rate_limits(storage: Storage) -> None:
    clock = Clock()
    hook = DriftWebhook(storage.retrains, "rollout", TOKEN, min_interval=3_600, clock=clock)
    assert hook.handle(BEARER, alert("resolved"))[1]["queued"] is False
    assert hook.handle(BEARER, alert(name="APIDown"))[1]["queued"] is False
    status, answer = hook.handle(BEARER, alert())
    assert (status, answer["queued"]) == (202, True)
    (run,) = storage.retrains.recent(5)
    assert (run.trigger, run.actor, run.rollout, run.status) == (
        "drift-alert", "alertmanager", True, QUEUED,
    )  # fmt: skip
    storage.retrains.finish(run.id, REFUSED, "too few labels", clock.now)
    clock.now += 3_599  # Alertmanager repeats a firing alert: within the interval, no new run
    status, answer = hook.handle(BEARER, alert())
    assert (status, answer["queued"]) == (200, False)
    assert "rate limited" in answer["reason"]
    clock.now += 2
    assert hook.handle(BEARER, alert())[1]["queued"] is True
    assert len(storage.retrains.recent(5)) == 2


def test_webhook_refuses_bad_tokens_and_bodies(storage: Storage) -> None:
    hook = DriftWebhook(storage.retrains, "register", TOKEN, min_interval=0)
    assert hook.handle(None, alert())[0] == 401
    assert hook.handle("Bearer wrong", alert())[0] == 401
    assert hook.handle(TOKEN, alert())[0] == 401  # the scheme is part of it
    assert hook.handle(BEARER, b"{not json")[0] == 400
    assert hook.handle(BEARER, b'{"alerts": 3}')[0] == 400
    assert hook.handle(BEARER, "\udcff".encode("utf-8", "surrogatepass"))[0] == 400
    assert storage.retrains.recent(5) == []
    with pytest.raises(ValueError, match="needs a mode and a token"):
        DriftWebhook(storage.retrains, "off", TOKEN, 0)
    with pytest.raises(ValueError, match="needs a mode and a token"):
        DriftWebhook(storage.retrains, "register", "", 0)


def test_webhook_over_http_on_the_monitor_port(storage: Storage) -> None:
    hook = DriftWebhook(storage.retrains, "register", TOKEN, min_interval=0)
    server = status_server(
        "127.0.0.1", 0, CollectorRegistry(), lambda: {"leader": True}, post={"/alerts": hook}
    )
    url = f"http://127.0.0.1:{server.server_port}"
    try:
        answer = requests.post(
            url + "/alerts", data=alert(), headers={"Authorization": BEARER}, timeout=5
        )
        assert (answer.status_code, answer.json()["queued"]) == (202, True)
        refused = requests.post(url + "/alerts", data=alert(), timeout=5)
        assert (refused.status_code, refused.json()["code"]) == (401, "unauthorized")
        assert requests.get(url + "/alerts", timeout=5).status_code == 404  # POST only
        big = requests.post(url + "/alerts", data=b"x" * (1024 * 1024 + 1),
                            headers={"Authorization": BEARER}, timeout=5)  # fmt: skip
        assert big.status_code == 413
        assert requests.get(url + "/health", timeout=5).json()["leader"] is True
        # A caller that never sends its body holds one thread, not the monitor's /health.
        stalled = socket.create_connection(("127.0.0.1", server.server_port), timeout=5)
        stalled.sendall(
            b"POST /alerts HTTP/1.1\r\nHost: x\r\nContent-Length: 1000\r\n"
            + f"Authorization: {BEARER}\r\n\r\n".encode()
        )
        started = time.monotonic()
        assert requests.get(url + "/health", timeout=5).status_code == 200
        assert time.monotonic() - started < 2
        stalled.close()
        # Without the token, the body is never read: 401 at once.
        unauthorised = socket.create_connection(("127.0.0.1", server.server_port), timeout=5)
        unauthorised.sendall(b"POST /alerts HTTP/1.1\r\nHost: x\r\nContent-Length: 1000\r\n\r\n")
        assert unauthorised.recv(100).startswith(b"HTTP/1.0 401")
        unauthorised.close()
    finally:
        server.shutdown()
        server.server_close()
    assert [run.trigger for run in storage.retrains.recent(5)] == ["drift-alert"]


def test_a_monitor_that_stops_mid_run_records_it_failed(storage: Storage) -> None:
    """The run's daemon thread dies with the process: closing the worker says so at once
    instead of leaving the slot held until the run expires."""
    import threading

    from mlops_pipeline.retraining.champion import RetrainRefused
    from mlops_pipeline.retraining.worker import RetrainWorker

    release = threading.Event()

    class Slow:
        def execute(self, run: Any) -> Any:
            release.wait(10)
            raise RetrainRefused("released")

    worker = RetrainWorker(storage.retrains, Slow())  # type: ignore[arg-type]
    run = storage.retrains.open("api", "alice", None, False, None, time.time())
    worker.tick()
    assert worker.busy
    worker.close()
    closed = storage.retrains.get(run.id)
    assert closed is not None
    assert (closed.status, closed.message) == ("failed", "the monitor stopped while it ran")
    assert storage.retrains.open("api", "bob", None, False, None, time.time()).status == QUEUED
    release.set()
    worker.join(5)


def test_a_failures_details_are_for_admins(client: FlaskClient, components: Components) -> None:
    assert components.storage is not None
    run = client.post("/retrains", json={}, headers=ADMIN).get_json()
    components.storage.retrains.finish(run["id"], "failed", "OSError: /srv/secret/path", 1.0)
    (shown,) = client.get("/retrains").get_json()["retrains"]
    assert (shown["status"], shown["message"]) == ("failed", "failed (details: admin)")
    (full,) = client.get("/retrains", headers=ADMIN).get_json()["retrains"]
    assert full["message"] == "OSError: /srv/secret/path"
