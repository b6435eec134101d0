"""The Grafana dashboards and the live stack their queries run against.

Shared by tests/e2e/test_grafana.py (every panel query must return series) and
scripts/render_dashboards.py (the same queries drawn and screenshotted for the README): a real
`mlops serve` + `mlops monitor` scraped every second by a real Prometheus, then HTTP and gRPC
traffic, labels, a rollout, a retrain, retention and a drift episode.
"""

from __future__ import annotations

import contextlib
import json
import re
import sys
import time
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np
import requests
import yaml

from mlops_pipeline.cli.launcher import prometheus_config
from mlops_pipeline.training.data import Dataset
from mlops_pipeline.training.synthetic import ClassConditionalGaussian
from tests.e2e.test_prometheus import DEPLOY, start_prometheus, value, wait_for
from tests.support.helpers import ADMIN, FEEDBACK
from tests.support.servers import Stack, free_port, running_stack, stop

ROOT = Path(__file__).resolve().parents[2]
GRAFANA = ROOT / "deploy" / "grafana"
sys.path.insert(0, str(GRAFANA))

import generate  # noqa: E402 - deploy/grafana/generate.py, found through the path above

DASHBOARDS = {
    path.stem: json.loads(path.read_text()) for path in generate.DASHBOARD_DIR.glob("*.json")
}
PROVISIONED = yaml.safe_load(generate.DATASOURCE_FILE.read_text())["datasources"]
BUILTIN = re.compile(r"\$__\w+")  # Grafana's own: $__rate_interval, $__range, $__interval
VARIABLE = re.compile(r"\$(\w+)|\$\{(\w+)(?::\w+)?\}")


def panels(dashboard: dict[str, Any]) -> Iterator[dict[str, Any]]:
    for panel in dashboard["panels"]:
        yield panel
        yield from panel.get("panels", [])  # a collapsed row holds its panels


def targets() -> Iterator[tuple[str, str, dict[str, Any]]]:
    for name, dashboard in sorted(DASHBOARDS.items()):
        for panel in panels(dashboard):
            for target in panel.get("targets", []):
                yield name, panel["title"], target


def substitute(expr: str, dashboard: dict[str, Any], range_seconds: int) -> str:
    """What Grafana sends for the variables' defaults ("All": each variable's allValue)."""
    for variable in dashboard["templating"].get("list", []):
        assert variable["current"]["value"] == "$__all"  # every default is "All"
        expr = expr.replace(f"${variable['name']}", variable["allValue"])
    # $__rate_interval: 4 scrape intervals (1 s here) at least, as Grafana computes it.
    expr = expr.replace("$__rate_interval", "10s").replace("$__interval", "1s")
    return expr.replace("$__range", f"{range_seconds}s")


# --- the live stack ---------------------------------------------------------------------------

FAST = {
    "MLOPS_DRIFT_INTERVAL_SECONDS": "0.5",
    "MLOPS_EXPERIMENT_INTERVAL_SECONDS": "1",
    "MLOPS_ROLLOUT_INTERVAL_SECONDS": "0.5",
    "MLOPS_WEIGHTS_SYNC_SECONDS": "0.2",
    "MLOPS_MODEL_SYNC_SECONDS": "0.5",
    "MLOPS_LOG_PRUNE_INTERVAL_SECONDS": "1",
    "MLOPS_LOG_MAX_ROWS": "50",  # retention deletes old unlabelled rows within the test
    "MLOPS_ACCESS_LOG": "false",
}
PLAN = {"candidate": "v2", "baseline": "v1", "steps": [0.5, 1.0]}
# What exercise() must have made visible in Prometheus before the panels are queried.
SHOWN = (
    ('count(ALERTS{alertname="DriftDetected"})', "the DriftDetected alert"),
    ("count(mlops_retrain_runs_total)", "the retrain run"),
    ("count(mlops_prediction_log_pruned_total)", "retention deleting rows"),
    ('max(mlops_rollout_state{state="aborted"})', "the monitor seeing the aborted rollout"),
    ("count(mlops_model_accuracy)", "accuracy from the labels"),
)


@dataclass(frozen=True)
class LiveStack:
    stack: Stack  # mlops serve + mlops monitor
    grpc_address: str  # the API's V2 gRPC port, host:port
    prometheus: str  # base URL, scraping both every second


@contextlib.contextmanager
def live_stack(artifacts: Path, folder: Path) -> Iterator[LiveStack]:
    """`mlops serve` (with gRPC) + `mlops monitor` on fast intervals and a Prometheus scraping
    both every second (alerts without `for`); everything stopped on exit, logs in ``folder``."""
    grpc_port = free_port()
    env = {**FAST, "MLOPS_GRPC_PORT": str(grpc_port)}
    with running_stack(artifacts, folder, env) as stack:
        api, monitor = (url.removeprefix("http://") for url in (stack.url, stack.monitor))
        config = prometheus_config(DEPLOY, folder / "prometheus", api, scrape_interval="1s",
                                   alert_for="0s", monitor_target=monitor)  # fmt: skip
        process, url = start_prometheus(config, folder / "prometheus" / "data")
        try:
            yield LiveStack(stack, f"127.0.0.1:{grpc_port}", url)
        finally:
            stop(process)


def predict(http: requests.Session, url: str, rows: np.ndarray[Any, Any]) -> list[dict[str, Any]]:
    return [
        http.post(url + "/predict", json={"features": r.tolist()}, timeout=5).json() for r in rows
    ]


def grpc_infer(address: str, rows: np.ndarray[Any, Any]) -> None:
    import tritonclient.grpc as triton

    client = triton.InferenceServerClient(address)
    try:
        tensor = triton.InferInput("input", list(rows.shape), "FP64")
        tensor.set_data_from_numpy(rows.astype(np.float64))
        for _ in range(5):
            client.infer("iris", [tensor])
    finally:
        client.close()


def exercise(stack: Stack, grpc_address: str, iris: Dataset) -> None:
    """Traffic, labels, a rollout, a retrain and a drift episode: what the dashboards show."""
    generator = ClassConditionalGaussian.fit(iris.features, iris.labels)
    clean, labels = generator.sample(150, np.random.default_rng(0))
    drifted, _ = generator.sample(120, np.random.default_rng(1))
    drifted[:, 2] *= 10  # petal length sent in millimetres
    with requests.Session() as http:
        started = http.post(stack.url + "/rollouts", json=PLAN, headers=ADMIN, timeout=5)
        assert started.status_code == 201, started.text
        answers = predict(http, stack.url, clean)
        for _ in range(3):  # client errors: the errors-by-code and status panels
            assert (
                http.post(stack.url + "/predict", json={"features": [1.0]}, timeout=5).status_code
                == 400
            )
        grpc_infer(grpc_address, clean[:4])
        # Labels for the newest answers only: retention keeps labelled rows, deletes the rest.
        body = [{"request_id": a["request_id"], "true_label": int(y)}
                for a, y in zip(answers[-60:], labels[-60:], strict=True)]  # fmt: skip
        assert http.post(stack.url + "/feedback", json=body, headers=FEEDBACK, timeout=10).ok
        queued = http.post(stack.url + "/retrains", json={}, headers=ADMIN, timeout=5)
        assert queued.status_code in (201, 202), queued.text
        predict(http, stack.url, drifted)
        aborted = http.post(stack.url + "/rollouts/current/abort", headers=ADMIN, timeout=5)
        assert aborted.ok, aborted.text


def produce(live: LiveStack, iris: Dataset, settle_seconds: float = 3) -> tuple[float, float]:
    """Both targets scraped, exercise() run and everything in SHOWN seen by Prometheus, then
    ``settle_seconds`` more scrapes (every counter has samples on both sides of a change).

    Returns the time range (unix seconds) the dashboards should be queried over.
    """
    began = time.time()
    prometheus = live.prometheus
    wait_for(lambda: value(prometheus, "count(up == 1)") == 2, 20, "both targets scraped")
    exercise(live.stack, live.grpc_address, iris)
    for promql, what in SHOWN:
        wait_for(lambda promql=promql: bool(value(prometheus, promql)), 30, what)
    time.sleep(settle_seconds)
    return began, time.time()
