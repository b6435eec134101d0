"""deploy/grafana: the committed dashboards are the generator's output, pass the SDK's model,
name only the provisioned datasource and defined variables, and every panel query returns series
from a real Prometheus scraping a real `mlops serve` + `mlops monitor` (traffic over HTTP and
gRPC, labels, a rollout, a retrain, retention and a drift episode)."""

from __future__ import annotations

import json
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
import requests
import yaml

from mlops_pipeline.training.data import Dataset
from tests.support.grafana_stack import (
    BUILTIN,
    DASHBOARDS,
    PROVISIONED,
    ROOT,
    VARIABLE,
    LiveStack,
    generate,
    live_stack,
    panels,
    produce,
    substitute,
    targets,
)


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


# --- every query against the live stack (tests/support/grafana_stack.py) ----------------------


@pytest.fixture
def prometheus_stack(artifacts_dir: Path, tmp_path: Path) -> Iterator[LiveStack]:
    with live_stack(artifacts_dir, tmp_path) as live:
        yield live


@pytest.mark.e2e
def test_every_panel_query_returns_series_from_the_live_stack(
    prometheus_stack: LiveStack, iris: Dataset
) -> None:
    began, end = produce(prometheus_stack, iris)
    prometheus = prometheus_stack.prometheus
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
