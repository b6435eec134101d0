"""A graph whose cost grows with a number sent, served by a real `mlops serve`: pinned calls
that would run for minutes are cut at the inference budget, and the liveness probe is answered
meanwhile (the issue saw two 60-byte pinned calls hold both workers and `/health` for 14 s)."""

from __future__ import annotations

import time
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path

import pytest
import requests

from tests.support.crafted_onnx import candidate_with, slow_when_large
from tests.support.helpers import ADMIN
from tests.support.servers import run_cli, running_api, served_everywhere

pytestmark = pytest.mark.e2e

BUDGET_MS = 1000


def test_slow_pinned_calls_are_cut_at_the_budget_and_health_still_answers(
    artifacts_dir: Path, v3_candidate: Path, tmp_path: Path
) -> None:
    db = tmp_path / "log.db"
    env = {
        "MLOPS_DB_PATH": str(db),
        "MLOPS_ARTIFACTS_DIR": str(artifacts_dir),
        "MLOPS_MODEL_SYNC_SECONDS": "0.5",
        "MLOPS_INFERENCE_TIMEOUT_MS": str(BUDGET_MS),
        "MLOPS_MODEL_EXTRA_OPS": "Loop",  # an operator let the Loop in; the budget still holds
    }
    # Two workers of one thread each (SQLite): two stuck calls would hold all of them.
    with running_api(artifacts_dir, db, workers=2, extra_env=env) as api:
        folder = candidate_with(v3_candidate, tmp_path / "slow", slow_when_large())
        run_cli("models", "register", str(folder), "--version", "v3", env=env)
        served_everywhere(api, {"v3"}, timeout=20)

        body = {
            "inputs": [
                {"name": "input", "shape": [1, 4], "datatype": "FP64", "data": [1e12, 1, 1, 1]}
            ]
        }

        def pinned() -> tuple[int, str, float]:
            started = time.monotonic()
            answer = requests.post(
                api + "/v2/models/iris/versions/v3/infer", json=body, headers=ADMIN, timeout=30
            )
            return answer.status_code, answer.json().get("code", ""), time.monotonic() - started

        with ThreadPoolExecutor(2) as pool:
            calls = [pool.submit(pinned) for _ in range(2)]
            time.sleep(0.2)  # both workers are inside the Loop now
            started = time.monotonic()
            health = requests.get(api + "/health", timeout=30)
            health_seconds = time.monotonic() - started
            results = [call.result() for call in calls]

    assert health.status_code == 200
    # 1e12 trips would run for many minutes; each call is stopped at its 1 s budget. The kernel
    # may hand both connections (and the probe's) to one worker, so a call or the probe waits
    # behind at most the two budgets ahead of it: seconds, never the graph's whole run.
    budget = BUDGET_MS / 1000
    assert health_seconds < 2 * budget + 1.5, health_seconds
    for status, code, seconds in results:
        assert (status, code) == (504, "inference_timeout")
        assert budget <= seconds < 2 * budget + 1.5, seconds
