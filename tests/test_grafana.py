"""deploy/grafana: the committed dashboards are the generator's output, pass the SDK's model,
name only the provisioned datasource and defined variables, and every panel query returns series
from a real Prometheus scraping a real `mlops serve` + `mlops monitor` (traffic over HTTP and
gRPC, labels, a rollout, a retrain, retention and a drift episode)."""

from __future__ import annotations

import json
import re
import sys
import time
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import numpy as np
import pytest
import requests
import yaml

from mlops_pipeline.cli.launcher import prometheus_config
from mlops_pipeline.training.data import Dataset
from mlops_pipeline.training.synthetic import ClassConditionalGaussian
from test_prometheus import DEPLOY, start_prometheus, value, wait_for

from helpers import ADMIN, FEEDBACK
from servers import Stack, free_port, running_stack, stop

ROOT = Path(__file__).resolve().parents[1]
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


def datasource_refs(node: Any) -> Iterator[dict[str, Any]]:
    if isinstance(node, dict):
        if isinstance(node.get("datasource"), dict):
            yield node["datasource"]
        for child in node.values():
            yield from datasource_refs(child)
    elif isinstance(node, list):
        for child in node:
            yield from datasource_refs(child)


def test_committed_files_are_the_generators_output() -> None:
    files = generate.render()
    assert set(generate.DASHBOARD_DIR.glob("*.json")) == {
        path for path in files if path.suffix == ".json"
    }
    for path, text in files.items():
        assert path.read_text() == text, f"{path} is stale: run python deploy/grafana/generate.py"


def test_the_four_dashboards_of_the_issue_with_their_panels() -> None:
    titles = {d["title"]: [p["title"] for p in panels(d)] for d in DASHBOARDS.values()}
    assert set(titles) == {
        "MLOps / Serving",
        "MLOps / Experiment and rollouts",
        "MLOps / Drift",
        "MLOps / Operations",
    }
    assert len({d["uid"] for d in DASHBOARDS.values()}) == 4
    everything = " ".join(target["expr"] for _, _, target in targets())
    for metric in ("mlops_requests_total", "mlops_request_latency_seconds_bucket",
                   "mlops_inference_latency_seconds_bucket", "mlops_errors_total",
                   "mlops_ab_weight", "mlops_model_accuracy", "mlops_rollout_state",
                   "mlops_rollout_step", "mlops_rollout_transitions_total",
                   "mlops_sample_ratio_mismatch", "mlops_drift_score",
                   "mlops_feature_drift_pvalue", 'ALERTS{alertname="DriftDetected"}',
                   "mlops_prediction_log_rows", "mlops_prediction_log_bytes",
                   "mlops_prediction_log_pruned_total", "mlops_monitor_leader",
                   "mlops_retrain_runs_total", "mlops_model_info",
                   "GRPCInferenceService"):  # fmt: skip
        assert metric in everything, metric


def test_dashboards_round_trip_through_the_sdk_model() -> None:
    """Decoded into the SDK's Dashboard model and encoded again, nothing is lost or changed (no
    key outside the schema, no value of the wrong shape); the model only adds its defaults."""
    from grafana_foundation_sdk.cog.encoder import JSONEncoder
    from grafana_foundation_sdk.cog.plugins import register_default_plugins
    from grafana_foundation_sdk.models.dashboard import Dashboard

    register_default_plugins()  # panel options and Prometheus queries decode to their types
    for name, data in DASHBOARDS.items():
        again = json.loads(json.dumps(Dashboard.from_json(data), cls=JSONEncoder))
        assert_within(data, again, name)


def assert_within(given: Any, decoded: Any, where: str) -> None:
    """Every key and value of ``given`` is in ``decoded``, which may hold more (defaults)."""
    if isinstance(given, dict):
        assert isinstance(decoded, dict), where
        for key, item in given.items():
            assert key in decoded, f"{where}/{key} is not in the schema"
            assert_within(item, decoded[key], f"{where}/{key}")
    elif isinstance(given, list):
        assert isinstance(decoded, list), where
        assert len(decoded) == len(given), where
        for index, (item, other) in enumerate(zip(given, decoded, strict=True)):
            assert_within(item, other, f"{where}[{index}]")
    else:
        assert given == decoded, where


def test_every_datasource_reference_is_the_provisioned_prometheus() -> None:
    (datasource,) = PROVISIONED
    assert datasource["type"] == "prometheus"
    assert datasource["uid"]
    for name, dashboard in DASHBOARDS.items():
        refs = list(datasource_refs(dashboard))
        assert refs, name
        for ref in refs:
            assert ref == {"type": "prometheus", "uid": datasource["uid"]}, name
    for name, title, target in targets():
        assert "datasource" in target, (name, title)
    kubernetes = list(yaml.safe_load_all(generate.K8S_FILE.read_text()))
    provisioning = next(d for d in kubernetes if d["metadata"]["name"].endswith("provisioning"))
    (k8s_datasource,) = yaml.safe_load(provisioning["data"]["datasource.yml"])["datasources"]
    assert k8s_datasource == {**datasource, "url": generate.K8S_PROMETHEUS}


def test_compose_and_kubernetes_mount_what_the_provider_reads() -> None:
    provider = yaml.safe_load(generate.PROVIDER_FILE.read_text())["providers"][0]
    path = provider["options"]["path"]
    compose = yaml.safe_load((ROOT / "docker-compose.yml").read_text())["services"]["grafana"]
    assert f"./deploy/grafana/dashboards:{path}:ro" in compose["volumes"]
    assert "./deploy/grafana/provisioning:/etc/grafana/provisioning:ro" in compose["volumes"]
    (deployment, _) = yaml.safe_load_all((ROOT / "deploy" / "k8s" / "grafana.yaml").read_text())
    pod = deployment["spec"]["template"]["spec"]
    (container,) = pod["containers"]
    mounts = {m["name"]: m["mountPath"] for m in container["volumeMounts"]}
    maps = {v["name"]: v["configMap"]["name"] for v in pod["volumes"] if "configMap" in v}
    assert maps == {
        "provisioning": "mlops-grafana-provisioning",
        "dashboards": "mlops-grafana-dashboards",
    }
    assert mounts["dashboards"] == path
    assert mounts["provisioning"] == "/etc/grafana/provisioning"
    generated = {
        d["metadata"]["name"]: d["data"] for d in yaml.safe_load_all(generate.K8S_FILE.read_text())
    }
    assert set(generated["mlops-grafana-dashboards"]) == {f"{name}.json" for name in DASHBOARDS}


def test_every_variable_a_query_uses_is_defined() -> None:
    for name, dashboard in DASHBOARDS.items():
        defined = {variable["name"] for variable in dashboard["templating"].get("list", [])}
        for dash_name, title, target in targets():
            if dash_name != name:
                continue
            used = {a or b for a, b in VARIABLE.findall(BUILTIN.sub("", target["expr"]))}
            assert used <= defined, (name, title, used - defined)


def substitute(expr: str, dashboard: dict[str, Any], range_seconds: int) -> str:
    """What Grafana sends for the variables' defaults ("All": each variable's allValue)."""
    for variable in dashboard["templating"].get("list", []):
        assert variable["current"]["value"] == "$__all"  # every default is "All"
        expr = expr.replace(f"${variable['name']}", variable["allValue"])
    # $__rate_interval: 4 scrape intervals (1 s here) at least, as Grafana computes it.
    expr = expr.replace("$__rate_interval", "10s").replace("$__interval", "1s")
    return expr.replace("$__range", f"{range_seconds}s")


# --- every query against the live stack -------------------------------------------------------

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


@pytest.fixture
def prometheus_stack(artifacts_dir: Path, tmp_path: Path) -> Iterator[tuple[Stack, str, str]]:
    grpc_port = free_port()
    env = {**FAST, "MLOPS_GRPC_PORT": str(grpc_port)}
    with running_stack(artifacts_dir, tmp_path, env) as stack:
        api, monitor = (url.removeprefix("http://") for url in (stack.url, stack.monitor))
        config = prometheus_config(DEPLOY, tmp_path / "prometheus", api, scrape_interval="1s",
                                   alert_for="0s", monitor_target=monitor)  # fmt: skip
        process, url = start_prometheus(config, tmp_path / "prometheus" / "data")
        try:
            yield stack, f"127.0.0.1:{grpc_port}", url
        finally:
            stop(process)


@pytest.mark.e2e
def test_every_panel_query_returns_series_from_the_live_stack(
    prometheus_stack: tuple[Stack, str, str], iris: Dataset
) -> None:
    stack, grpc_address, prometheus = prometheus_stack
    began = time.time()
    wait_for(lambda: value(prometheus, "count(up == 1)") == 2, 20, "both targets scraped")
    exercise(stack, grpc_address, iris)
    for promql, what in (
        ('count(ALERTS{alertname="DriftDetected"})', "the DriftDetected alert"),
        ("count(mlops_retrain_runs_total)", "the retrain run"),
        ("count(mlops_prediction_log_pruned_total)", "retention deleting rows"),
        ('max(mlops_rollout_state{state="aborted"})', "the monitor seeing the aborted rollout"),
        ("count(mlops_model_accuracy)", "accuracy from the labels"),
    ):
        wait_for(lambda promql=promql: bool(value(prometheus, promql)), 30, what)
    time.sleep(3)  # a few more scrapes: every counter has samples on both sides of a change
    end = time.time()
    empty = []
    for name, title, target in targets():
        expr = substitute(target["expr"], DASHBOARDS[name], int(end - began) + 1)
        body = requests.get(
            prometheus + "/api/v1/query_range",
            params={"query": expr, "start": began, "end": end, "step": "1"},
            timeout=10,
        ).json()
        assert body["status"] == "success", (name, title, expr, body)
        if not body["data"]["result"]:
            empty.append(f"{name} / {title}: {expr}")
    assert not empty, "panels whose query returns no series:\n" + "\n".join(empty)
