"""End to end on SQLite: `mlops serve` + `mlops monitor`. Drift-era traffic is labelled through
POST /feedback; a retrain is asked for (the API's queue, the CLI, the Alertmanager webhook); the
monitor registers the candidate, its rollout runs on the same drifted traffic and promotes it."""

from __future__ import annotations

import json
import os
import subprocess
import sys
import time
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import numpy as np
import pytest
import requests

from mlops_pipeline.training.data import Dataset
from mlops_pipeline.training.synthetic import ClassConditionalGaussian, shift_class
from tests.support.helpers import ADMIN, FEEDBACK
from tests.support.servers import Stack, run_cli, running_stack, split_everywhere

pytestmark = pytest.mark.e2e

WEBHOOK_TOKEN = "retrain-webhook-token-0123456789"
FAST = {
    "MLOPS_MODEL_SYNC_SECONDS": "0.5",
    "MLOPS_WEIGHTS_SYNC_SECONDS": "0.2",
    "MLOPS_ROLLOUT_INTERVAL_SECONDS": "0.5",
    "MLOPS_DRIFT_INTERVAL_SECONDS": "1",
    "MLOPS_ACCESS_LOG": "false",
    "MLOPS_RETRAIN_MIN_LABELS": "100",
    "MLOPS_RETRAIN_ON_DRIFT": "register",
    "MLOPS_RETRAIN_WEBHOOK_TOKEN": WEBHOOK_TOKEN,
    "MLOPS_RETRAIN_MIN_INTERVAL_SECONDS": "3600",
}


@pytest.fixture
def stack(artifacts_dir: Path, tmp_path: Path) -> Iterator[Stack]:
    with running_stack(artifacts_dir, tmp_path, FAST) as running:
        yield running


class DriftEra:
    """Versicolor's petals 1 SD longer and wider, labels unchanged: the served models call many
    of them virginica."""

    def __init__(self, iris: Dataset, seed: int) -> None:
        self.generator = ClassConditionalGaussian.fit(iris.features, iris.labels)
        self.rng = np.random.default_rng(seed)

    def rows(self, count: int) -> tuple[np.ndarray[Any, Any], np.ndarray[Any, Any]]:
        features, labels = self.generator.sample(count, self.rng)
        return shift_class(features, labels, self.generator, 1, (2, 3), 1.0), labels


def predict_and_label(http: requests.Session, url: str, era: DriftEra, count: int) -> list[str]:
    """``count`` routed predictions, all labelled with their true class; the versions that
    answered."""
    features, labels = era.rows(count)
    answers = [
        http.post(url + "/predict", json={"features": row.tolist()}, timeout=5).json()
        for row in features
    ]
    body = [
        {"request_id": a["request_id"], "true_label": int(y)}
        for a, y in zip(answers, labels, strict=True)
    ]
    assert http.post(url + "/feedback", json=body, headers=FEEDBACK, timeout=10).ok
    return [a["model_version"] for a in answers]


def wait_for_run(url: str, run_id: int, timeout: float) -> dict[str, Any]:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        runs = requests.get(url + "/retrains", timeout=5).json()["retrains"]
        run = next(r for r in runs if r["id"] == run_id)
        if run["status"] not in ("queued", "running"):
            return dict(run)
        time.sleep(0.2)
    raise AssertionError(f"retraining run {run_id} did not finish within {timeout} s")


def served_model(http: requests.Session, url: str, version: str) -> dict[str, Any]:
    """GET /models's entry for ``version`` once the worker answering has loaded it."""
    deadline = time.monotonic() + 10
    while time.monotonic() < deadline:
        models = http.get(url + "/models", timeout=5).json()
        if version in models:
            return dict(models[version])
        time.sleep(0.1)
    raise AssertionError(f"{version} not served within 10 s")


def test_labels_in_candidate_registered_rollout_started_and_promoted(
    stack: Stack, iris: Dataset
) -> None:
    era = DriftEra(iris, seed=11)
    with requests.Session() as http:
        predict_and_label(http, stack.url, era, 150)
        queued = http.post(
            stack.url + "/retrains", json={"rollout": True}, headers=ADMIN, timeout=5
        )
        assert queued.status_code == 202, queued.text
        run = wait_for_run(stack.url, queued.json()["id"], timeout=60)
        assert run["status"] == "registered", run["message"]
        assert run["version"] == "v3"
        comparison = run["result"]["comparison"]
        assert comparison["candidate"]["accuracy"] > comparison["champion"]["accuracy"]
        before = http.get(stack.url + "/drift", timeout=5).json()
        assert (before["reference"], before["status"]) == ("training data", "drift")
        lineage = served_model(http, stack.url, "v3")["lineage"]
        assert lineage["production_labels"]["count"] >= 140  # 150 rows, a few repeat
        assert lineage["champion"]["version"] == run["result"]["champion"]
        rollout = http.get(stack.url + "/rollouts/current", timeout=5).json()
        assert (rollout["candidate"], rollout["baseline"]) == ("v3", run["result"]["champion"])
        assert rollout["plan"]["steps"] == [0.05, 0.25, 0.5, 1.0]  # the default plan
        # The same drift-era traffic goes on, labelled; the controller judges on it.
        deadline = time.monotonic() + 150
        while time.monotonic() < deadline:
            predict_and_label(http, stack.url, era, 200)
            latest = http.get(stack.url + "/rollouts?limit=1", timeout=5).json()["rollouts"][0]
            if latest["state"] != "running":
                break
        assert latest["state"] == "promoted", latest["reason"]
        # Every worker adopts the final split on its own sync thread: waited for, not slept on.
        split_everywhere(stack.url, lambda weights: weights.get("v3") == 1.0)
        assert http.get(stack.url + "/config", timeout=5).json()["weights"]["v3"] == 1.0
        assert set(predict_and_label(http, stack.url, era, 20)) == {"v3"}
        # Drift is now measured against the data v3 learnt: the alarm that asked for it ends.
        deadline = time.monotonic() + 20
        while time.monotonic() < deadline:
            predict_and_label(http, stack.url, era, 20)
            drift = http.get(stack.url + "/drift", timeout=5).json()
            if drift["reference"] == "v3" and drift["status"] == "ok":
                break
            time.sleep(0.5)
        assert (drift["reference"], drift["status"]) == ("v3", "ok"), drift


def test_a_drift_alert_at_the_monitor_queues_one_retrain_then_rate_limits(
    stack: Stack, iris: Dataset
) -> None:
    era = DriftEra(iris, seed=12)
    alert = {
        "status": "firing",
        "alerts": [
            {"status": "firing", "labels": {"alertname": "DriftDetected", "severity": "warning"},
             "startsAt": "2026-11-27T05:00:00Z"},
        ],
    }  # fmt: skip
    hook = stack.monitor + "/alerts"
    auth = {"Authorization": f"Bearer {WEBHOOK_TOKEN}"}
    with requests.Session() as http:
        predict_and_label(http, stack.url, era, 120)
        assert http.post(hook, data=json.dumps(alert), timeout=5).status_code == 401
        started = time.monotonic()
        answer = http.post(hook, data=json.dumps(alert), headers=auth, timeout=5)
        assert answer.status_code == 202, answer.text
        run = wait_for_run(stack.url, answer.json()["run_id"], timeout=60)
        elapsed = time.monotonic() - started
        assert run["status"] == "registered", run["message"]
        assert (run["trigger"], run["version"], run["rollout"]) == ("drift-alert", "v3", False)
        assert elapsed < 30
        assert served_model(http, stack.url, "v3")["lineage"]["trigger"] == "drift-alert"
        assert http.get(stack.url + "/rollouts/current", timeout=5).status_code == 404
        # Alertmanager repeats the firing alert: within the interval no second run.
        again = http.post(hook, data=json.dumps(alert), headers=auth, timeout=5).json()
        assert again["queued"] is False
        assert "rate limited" in again["reason"]
        # A person can still ask: the CLI refuses, nothing was labelled since.
        refused = subprocess.run(
            [sys.executable, "-m", "mlops_pipeline.cli", "retrain"],
            env={**os.environ, **stack.env},
            capture_output=True,
            text=True,
            check=False,
        )
        assert refused.returncode == 2
        assert "no new labelled rows since the last retrain (v3" in refused.stderr
        # With new labels, the CLI retrains and starts the rollout itself.
        predict_and_label(http, stack.url, era, 30)
        output = run_cli("retrain", "--version", "v4", "--rollout", env=stack.env)
        assert "registered v4 (weight 0)" in output
        assert "rollout 1 started" in output
        assert http.get(stack.url + "/rollouts/current", timeout=5).json()["candidate"] == "v4"
