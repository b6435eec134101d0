"""End to end on SQLite: `mlops serve` + `mlops monitor`, a v3 registered while they run, then
a rollout the monitor's controller rolls back (v3 worse) or promotes (v3 better)."""

from __future__ import annotations

import os
import subprocess
import sys
import threading
import time
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
import requests

from tests.support.helpers import ADMIN, ADMIN_TOKEN, FEEDBACK
from tests.support.servers import Stack, run_cli, running_stack, served_everywhere, split_everywhere

pytestmark = pytest.mark.e2e

ROWS = {0: [5.1, 3.5, 1.4, 0.2], 1: [5.9, 3.0, 4.2, 1.5], 2: [6.7, 3.0, 5.2, 2.3]}
FAST = {
    "MLOPS_MODEL_SYNC_SECONDS": "0.5",
    "MLOPS_WEIGHTS_SYNC_SECONDS": "0.2",
    "MLOPS_ROLLOUT_INTERVAL_SECONDS": "0.5",
    "MLOPS_DRIFT_INTERVAL_SECONDS": "2",
    "MLOPS_ACCESS_LOG": "false",
}
PLAN = {
    "candidate": "v3",
    "baseline": "v2",
    "steps": [0.2, 0.5, 1.0],
    "min_labels_per_step": 30,
    "guardrails": {"max_error_rate": 0.05, "max_p99_ms": 1000, "max_accuracy_drop": 0.05},
}


@pytest.fixture
def stack(artifacts_dir: Path, tmp_path: Path) -> Iterator[Stack]:
    with running_stack(artifacts_dir, tmp_path, FAST) as running:
        yield running


def register_v3_under_load(stack: Stack, candidate: Path) -> None:
    """Register v3 while requests flow; every worker serves it within 10 s; none fails."""
    failures: list[int] = []
    stop = threading.Event()

    def load() -> None:
        with requests.Session() as http:
            while not stop.is_set():
                status = http.post(
                    stack.url + "/predict", json={"features": ROWS[0]}, timeout=5
                ).status_code
                if status != 200:
                    failures.append(status)

    thread = threading.Thread(target=load)
    thread.start()
    try:
        run_cli("models", "register", str(candidate), "--version", "v3", env=stack.env)
        served_everywhere(stack.url, {"v3"})
    finally:
        stop.set()
        thread.join()
    assert failures == []
    assert requests.get(stack.url + "/config", timeout=5).json()["weights"].get("v3", 0.0) == 0.0


def run_rollout(
    stack: Stack, rows: list[list[float]], candidate_right: bool, baseline_right: bool
) -> dict[str, Any]:
    """Start the plan, then predict Iris rows (drift-free, so drift never holds a step) and
    label each answer right or wrong by the version that gave it, until the controller ends it."""
    started = requests.post(stack.url + "/rollouts", json=PLAN, headers=ADMIN, timeout=5)
    assert started.status_code == 201, started.text
    deadline = time.monotonic() + 90
    index = 0
    with requests.Session() as http:
        while time.monotonic() < deadline:
            for _ in range(20):
                features = rows[index % len(rows)]
                index += 1
                answer = http.post(stack.url + "/predict", json={"features": features}, timeout=5)
                answer = answer.json()
                right = candidate_right if answer["model_version"] == "v3" else baseline_right
                label = answer["prediction"] if right else (answer["prediction"] + 1) % 3
                body = {"request_id": answer["request_id"], "true_label": label}
                assert http.post(stack.url + "/feedback", json=body, headers=FEEDBACK, timeout=5).ok
            latest = http.get(stack.url + "/rollouts?limit=1", timeout=5).json()["rollouts"][0]
            if latest["state"] != "running":
                return dict(latest)
    raise AssertionError(f"the rollout did not finish: {latest['reason']}")


def test_a_worse_v3_is_rolled_back_with_its_audit_trail(
    stack: Stack, v3_candidate: Path, iris_rows: list[list[float]]
) -> None:
    register_v3_under_load(stack, v3_candidate)
    before = requests.get(stack.url + "/config", timeout=5).json()["weights"]
    rollout = run_rollout(stack, iris_rows, candidate_right=False, baseline_right=True)
    assert rollout["state"] == "rolled_back"
    assert "shown worse" in rollout["reason"]
    events = rollout["events"]
    assert events[0]["event"] == "started"
    assert events[-1]["event"] == "rolled_back"
    assert events[-1]["weights"] == before
    history = requests.get(stack.url + "/config/history?limit=50", headers=ADMIN, timeout=5).json()
    assert history["changes"][0]["actor"] == "rollout-controller"
    split_everywhere(stack.url, lambda weights: weights == {**before, "v3": 0.0})
    restored = requests.get(stack.url + "/config", timeout=5).json()["weights"]
    assert restored == {**before, "v3": 0.0}  # v3 still served, with no traffic


def test_a_better_v3_is_promoted(
    stack: Stack, v3_candidate: Path, iris_rows: list[list[float]]
) -> None:
    register_v3_under_load(stack, v3_candidate)
    rollout = run_rollout(stack, iris_rows, candidate_right=True, baseline_right=False)
    assert rollout["state"] == "promoted", rollout["reason"]
    assert [e["event"] for e in rollout["events"]] == ["started", "advance", "promote"]
    split_everywhere(stack.url, lambda weights: weights.get("v3") == 1.0)
    weights = requests.get(stack.url + "/config", timeout=5).json()["weights"]
    assert weights["v3"] == 1.0
    answers = {
        requests.post(stack.url + "/predict", json={"features": ROWS[1]}, timeout=5).json()[
            "model_version"
        ]
        for _ in range(20)
    }
    assert answers == {"v3"}


def test_the_cli_starts_shows_and_aborts_a_rollout(stack: Stack) -> None:
    env = {**stack.env, "MLOPS_API_URL": stack.url, "MLOPS_ADMIN_TOKEN": ADMIN_TOKEN}
    started = run_cli(
        "rollout", "start", "--candidate", "v2", "--baseline", "v1", "--steps", "0.5,1", env=env
    )
    assert "v2 against v1, running, step 0" in started
    assert "weights  {'v2': 0.5, 'v1': 0.5}" in started
    assert "rollout 1: v2 against v1, running" in run_cli("rollout", "status", env=env)
    assert "aborted" in run_cli("rollout", "abort", env=env)
    refused = subprocess.run(
        [sys.executable, "-m", "mlops_pipeline.cli", "rollout", "abort"],
        env={**os.environ, **env, "MLOPS_ADMIN_TOKEN": ""},
        capture_output=True,
        text=True,
        check=False,
    )
    assert refused.returncode == 2
    assert "set MLOPS_ADMIN_TOKEN" in refused.stderr
