"""deploy/k8s: every manifest valid for a pinned Kubernetes version (offline schemas), and wired."""

from __future__ import annotations

import re
import shutil
import subprocess
from pathlib import Path
from typing import Any

import pytest
import yaml

from mlops_pipeline.config import Settings

ROOT = Path(__file__).resolve().parents[1]
K8S = ROOT / "deploy" / "k8s"
DOC = (ROOT / "docs" / "k8s.md").read_text()
KUBERNETES = "1.30.0"

DOCUMENTS: list[dict[str, Any]] = [
    document
    for path in sorted(K8S.glob("*.yaml"))
    for document in yaml.safe_load_all(path.read_text())
    if document
]


def of_kind(kind: str) -> list[dict[str, Any]]:
    return [document for document in DOCUMENTS if document["kind"] == kind]


def pod_specs() -> list[tuple[str, dict[str, Any]]]:
    found = []
    for document in DOCUMENTS:
        if document["kind"] in {"Deployment", "Job"}:
            found.append((document["metadata"]["name"], document["spec"]["template"]["spec"]))
    return found


def containers() -> list[tuple[str, dict[str, Any]]]:
    return [(name, c) for name, spec in pod_specs() for c in spec["containers"]]


@pytest.mark.parametrize(
    "document", DOCUMENTS, ids=lambda d: f"{d['kind']}/{d['metadata']['name']}"
)
def test_manifest_is_valid_for_the_pinned_kubernetes(document: dict[str, Any]) -> None:
    import kubernetes_validate

    kubernetes_validate.validate(document, KUBERNETES, strict=True)


def test_an_invalid_manifest_is_caught() -> None:
    import kubernetes_validate

    broken = {**of_kind("Deployment")[0]}
    broken["spec"] = {**broken["spec"], "replicas": "three"}
    with pytest.raises(kubernetes_validate.ValidationError):
        kubernetes_validate.validate(broken, KUBERNETES, strict=True)


def test_the_pieces_the_issue_names_are_there() -> None:
    names = {(d["kind"], d["metadata"]["name"]) for d in DOCUMENTS}
    assert {
        ("Deployment", "mlops-api"),
        ("Service", "mlops-api"),
        ("HorizontalPodAutoscaler", "mlops-api"),
        ("PodDisruptionBudget", "mlops-api"),
        ("Deployment", "mlops-monitor"),
        ("Job", "mlops-db-upgrade"),
        ("Deployment", "mlops-ui"),
        ("Service", "mlops-ui"),
        ("ConfigMap", "mlops-prometheus"),
    } <= names
    (api,) = [d for d in of_kind("Deployment") if d["metadata"]["name"] == "mlops-api"]
    assert api["spec"]["replicas"] == 3
    (container,) = api["spec"]["template"]["spec"]["containers"]
    assert container["readinessProbe"]["httpGet"]["path"] == "/ready"
    assert container["livenessProbe"]["httpGet"]["path"] == "/health"
    (job,) = of_kind("Job")
    assert job["spec"]["template"]["spec"]["containers"][0]["command"] == ["mlops", "db", "upgrade"]


def test_every_service_selects_exactly_one_workload_and_a_declared_port() -> None:
    for service in of_kind("Service"):
        selector = service["spec"]["selector"]
        matches = [
            d
            for d in of_kind("Deployment")
            if selector.items() <= d["spec"]["template"]["metadata"]["labels"].items()
        ]
        assert len(matches) == 1, service["metadata"]["name"]
        ports = {
            key
            for c in matches[0]["spec"]["template"]["spec"]["containers"]
            for p in c.get("ports", [])
            for key in (p["name"], p["containerPort"])
        }
        for port in service["spec"]["ports"]:
            assert port["targetPort"] in ports, service["metadata"]["name"]


def test_deployment_selectors_match_their_pods_and_hpa_pdb_point_at_them() -> None:
    deployments = {d["metadata"]["name"]: d for d in of_kind("Deployment")}
    for deployment in deployments.values():
        labels = deployment["spec"]["template"]["metadata"]["labels"]
        assert deployment["spec"]["selector"]["matchLabels"].items() <= labels.items()
    for hpa in of_kind("HorizontalPodAutoscaler"):
        assert hpa["spec"]["scaleTargetRef"]["name"] in deployments
    for pdb in of_kind("PodDisruptionBudget"):
        wanted = pdb["spec"]["selector"]["matchLabels"].items()
        assert any(
            wanted <= d["spec"]["template"]["metadata"]["labels"].items()
            for d in deployments.values()
        )


def test_probes_use_ports_the_container_declares() -> None:
    for name, container in containers():
        ports = {key for p in container.get("ports", []) for key in (p["name"], p["containerPort"])}
        for probe in ("startupProbe", "readinessProbe", "livenessProbe"):
            if probe in container:
                assert container[probe]["httpGet"]["port"] in ports, (name, probe)


def test_every_secret_and_configmap_reference_is_documented_and_exists() -> None:
    configmaps = {d["metadata"]["name"]: d.get("data", {}) for d in of_kind("ConfigMap")}
    for name, container in containers():
        for variable in container.get("env", []):
            source = variable.get("valueFrom", {})
            if "secretKeyRef" in source:
                ref = source["secretKeyRef"]
                assert f"| `{ref['name']}` | `{ref['key']}` |" in DOC, (name, ref)
            if "configMapKeyRef" in source:
                ref = source["configMapKeyRef"]
                assert ref["key"] in configmaps[ref["name"]], (name, ref)
        for source in container.get("envFrom", []):
            ref = source["configMapRef"]["name"]
            assert ref in configmaps, (name, ref)
            for key in configmaps[ref]:
                assert f"| `{ref}` | `{key}` |" in DOC, (ref, key)


def test_every_setting_named_is_a_real_setting() -> None:
    named = {v["name"] for _, c in containers() for v in c.get("env", [])}
    named |= {key for d in of_kind("ConfigMap") for key in d.get("data", {}) if key.isupper()}
    for variable in sorted(named):
        if variable.startswith("MLOPS_"):
            assert variable.removeprefix("MLOPS_").lower() in Settings.model_fields, variable


def test_containers_are_hardened_and_pinned() -> None:
    for name, spec in pod_specs():
        assert spec["securityContext"]["runAsNonRoot"] is True, name
        assert spec["automountServiceAccountToken"] is False, name
        for container in spec["containers"]:
            assert container["securityContext"]["readOnlyRootFilesystem"] is True, name
            assert container["securityContext"]["allowPrivilegeEscalation"] is False, name
            assert container["securityContext"]["capabilities"]["drop"] == ["ALL"], name
            assert {"requests", "limits"} <= set(container["resources"]), name
            assert re.search(r":\d+\.\d+\.\d+$", container["image"]), name  # never :latest
            mounts = {m["mountPath"] for m in container.get("volumeMounts", [])}
            assert "/tmp" in mounts, name  # writable scratch on a read-only root


def test_no_secret_values_in_the_repository() -> None:
    assert of_kind("Secret") == []
    text = "\n".join(path.read_text() for path in K8S.glob("*.yaml"))
    assert "postgresql://" not in text


def test_the_ui_never_holds_the_admin_token() -> None:
    (ui,) = [c for name, c in containers() if name == "mlops-ui"]
    assert "MLOPS_ADMIN_TOKEN" not in {v["name"] for v in ui.get("env", [])}


def test_prometheus_scrape_config_is_accepted_by_promtool(tmp_path: Path) -> None:
    (configmap,) = [d for d in of_kind("ConfigMap") if d["metadata"]["name"] == "mlops-prometheus"]
    config = yaml.safe_load(configmap["data"]["prometheus.yml"])
    jobs = {
        rule.get("target_label"): rule
        for job in config["scrape_configs"]
        for rule in job["relabel_configs"]
    }
    assert "job" in jobs  # the job label comes from the pods' prometheus.io/job annotation
    annotated = {
        d["spec"]["template"]["metadata"]["annotations"]["prometheus.io/job"]
        for d in of_kind("Deployment")
        if "annotations" in d["spec"]["template"]["metadata"]
    }
    alerts = (ROOT / "deploy" / "prometheus" / "alerts.yml").read_text()
    assert annotated == {"mlops-api", "mlops-monitor"}
    assert all(f'job="{job}"' in alerts for job in annotated)
    promtool = shutil.which("promtool")
    if promtool is None:
        pytest.skip("promtool is not installed (Debian package prometheus)")
    # Debian's Prometheus is built without Kubernetes discovery: promtool checks everything else
    # (relabel rules, their regexes, rule files) with a static target in its place.
    for job in config["scrape_configs"]:
        job.pop("kubernetes_sd_configs")
        job["static_configs"] = [{"targets": ["pod:5000"]}]
    (tmp_path / "prometheus.yml").write_text(yaml.safe_dump(config))
    shutil.copy(ROOT / "deploy" / "prometheus" / "alerts.yml", tmp_path / "alerts.yml")
    result = subprocess.run(
        [promtool, "check", "config", str(tmp_path / "prometheus.yml")],
        capture_output=True,
        text=True,
        check=False,
    )
    assert result.returncode == 0, result.stdout + result.stderr
