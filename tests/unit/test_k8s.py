"""deploy/k8s: every manifest valid for a pinned Kubernetes (offline schemas), wired, hardened."""

from __future__ import annotations

import os
import re
import shutil
import subprocess
import sys
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
import yaml

from mlops_pipeline.cli.alerting import VARIABLE, render
from mlops_pipeline.config import Settings

ROOT = Path(__file__).resolve().parents[2]
K8S = ROOT / "deploy" / "k8s"
PROMETHEUS_CONFIG = K8S / "prometheus" / "prometheus.yml"
ALERTS = ROOT / "deploy" / "prometheus" / "alerts.yml"
ALERTMANAGER_TEMPLATE = ROOT / "deploy" / "alertmanager" / "alertmanager.yml"
DOC = (ROOT / "docs" / "k8s.md").read_text()
KUBERNETES = "1.30.0"  # the oldest Kubernetes the manifests promise to work on
NAMESPACE = "mlops"
UID = 10001  # the user and group of both images (deploy/docker/*.Dockerfile)

# Settings the lead is adding with the scale-out work (issue "Scale out"); the manifests may name
# them before they reach Settings. Remove an entry once Settings has the field.
PLANNED = {"DATABASE_URL", "DB_DURABLE_COMMIT", "MONITOR_PORT"}

# Stand-ins for Secret values when building Settings from a container's environment.
PLACEHOLDERS = {
    ("mlops-database", "url"): "postgresql://mlops:placeholder@db.invalid:5432/mlops",
    ("mlops-tokens", "admin-token"): "a" * 32,
    ("mlops-tokens", "feedback-token"): "f" * 32,
    ("mlops-alerting", "webhook-url"): "https://hooks.example.invalid/mlops",
    ("mlops-alerting", "email-to"): "oncall@example.invalid",
    ("mlops-alerting", "smtp-from"): "alertmanager@example.invalid",
    ("mlops-alerting", "smtp-smarthost"): "smtp.example.invalid:587",
    ("mlops-alerting", "smtp-username"): "alertmanager",
    ("mlops-alerting", "retrain-url"): f"http://mlops-monitor.{NAMESPACE}.svc:9100/alerts",
    ("mlops-alerting", "retrain-webhook-token"): "r" * 32,
    ("mlops-grafana", "admin-password"): "g" * 32,
}
# Secrets every key of which may be absent: Alertmanager's destinations are each optional
# (`mlops alerting config` leaves out one whose settings are missing).
OPTIONAL_SECRETS = {"mlops-alerting"}
# Variables `mlops alerting config` reads (not Settings): the template's ${MLOPS_ALERT_*}.
ALERT_VARIABLES = set(VARIABLE.findall(ALERTMANAGER_TEMPLATE.read_text()))
# Third-party images: each pinned to one exact release (in its project's tag style), outside the
# project's own tag.
THIRD_PARTY_IMAGES = {"prom/alertmanager": r"v\d+\.\d+\.\d+", "grafana/grafana": r"\d+\.\d+\.\d+"}

FILES = sorted(K8S.glob("*.yaml"))
DOCUMENTS: list[tuple[str, dict[str, Any]]] = [
    (path.name, document)
    for path in FILES
    for document in yaml.safe_load_all(path.read_text())
    if document
]
OBJECTS = [document for _, document in DOCUMENTS]


def of_kind(kind: str) -> list[dict[str, Any]]:
    return [document for document in OBJECTS if document["kind"] == kind]


def named(kind: str, name: str) -> dict[str, Any]:
    (found,) = [d for d in of_kind(kind) if d["metadata"]["name"] == name]
    return found


def workloads() -> list[dict[str, Any]]:
    return of_kind("Deployment") + of_kind("Job")


def pod_labels(workload: dict[str, Any]) -> dict[str, str]:
    labels: dict[str, str] = workload["spec"]["template"]["metadata"]["labels"]
    return labels


def pod_spec(workload: dict[str, Any]) -> dict[str, Any]:
    spec: dict[str, Any] = workload["spec"]["template"]["spec"]
    return spec


def containers() -> Iterator[tuple[dict[str, Any], dict[str, Any]]]:
    for workload in workloads():
        for container in (
            pod_spec(workload).get("initContainers", []) + pod_spec(workload)["containers"]
        ):
            yield workload, container


def mounted_configmaps() -> set[str]:
    """ConfigMaps mounted as files (not settings: their keys are file names)."""
    return {
        volume["configMap"]["name"]
        for workload in workloads()
        for volume in pod_spec(workload).get("volumes", [])
        if "configMap" in volume
    }


def container_of(name: str) -> dict[str, Any]:
    listed: list[dict[str, Any]] = pod_spec(named("Deployment", name))["containers"]
    (container,) = listed
    return container


def selects(selector: dict[str, str], workload: dict[str, Any]) -> bool:
    return selector.items() <= pod_labels(workload).items()


def selected(selector: dict[str, str]) -> list[dict[str, Any]]:
    return [w for w in workloads() if selects(selector, w)]


def port_keys(container: dict[str, Any]) -> set[str | int]:
    """What a probe or a Service may name: each declared port's name and number."""
    return {key for p in container.get("ports", []) for key in (p["name"], p["containerPort"])}


def port_number(workload: dict[str, Any], port: str | int) -> int:
    for container in pod_spec(workload)["containers"]:
        for declared in container.get("ports", []):
            if port in (declared["name"], declared["containerPort"]):
                number: int = declared["containerPort"]
                return number
    raise AssertionError(f"{workload['metadata']['name']} declares no port {port!r}")


def doc_section(heading: str) -> str:
    """The text under ``## heading`` (subsections included) up to the next ``## `` heading."""
    match = re.search(rf"^## {re.escape(heading)}\n(.*?)(?=^## |\Z)", DOC, re.M | re.S)
    assert match, f"docs/k8s.md has no section {heading!r}"
    return match.group(1)


def documented(heading: str) -> set[tuple[str, str]]:
    """(object name, key) rows of the table under ``heading`` in docs/k8s.md."""
    rows = re.findall(r"^\| `([^`]+)` \| `([^`]+)` \|", doc_section(heading), re.M)
    return set(rows)


def environment(container: dict[str, Any]) -> dict[str, str]:
    """The variables the container starts with: its ConfigMaps, then env (which wins), Secrets
    replaced by placeholders."""
    configmaps = {d["metadata"]["name"]: d.get("data", {}) for d in of_kind("ConfigMap")}
    env: dict[str, str] = {}
    for source in container.get("envFrom", []):
        env.update(configmaps[source["configMapRef"]["name"]])
    for variable in container.get("env", []):
        source = variable.get("valueFrom", {})
        if "secretKeyRef" in source:
            ref = source["secretKeyRef"]
            env[variable["name"]] = PLACEHOLDERS[(ref["name"], ref["key"])]
        elif "configMapKeyRef" in source:
            ref = source["configMapKeyRef"]
            env[variable["name"]] = configmaps[ref["name"]][ref["key"]]
        else:
            env[variable["name"]] = variable["value"]
    return env


# Schemas ----------------------------------------------------------------------------------------


@pytest.mark.parametrize(
    "document",
    [document for _, document in DOCUMENTS],
    ids=[f"{file}:{d['kind']}/{d['metadata']['name']}" for file, d in DOCUMENTS],
)
def test_manifest_is_valid_for_the_pinned_kubernetes(document: dict[str, Any]) -> None:
    import kubernetes_validate

    kubernetes_validate.validate(document, KUBERNETES, strict=True)


def test_an_invalid_manifest_is_caught() -> None:
    import kubernetes_validate

    deployment = named("Deployment", "mlops-api")
    wrong_type = {**deployment, "spec": {**deployment["spec"], "replicas": "three"}}
    misspelt = {**deployment, "spec": {**deployment["spec"], "replica": 3}}
    for broken in (wrong_type, misspelt):
        with pytest.raises(kubernetes_validate.ValidationError):
            kubernetes_validate.validate(broken, KUBERNETES, strict=True)


def test_the_command_line_validator_accepts_every_file() -> None:
    cli = Path(sys.executable).parent / "kubernetes-validate"
    if not cli.exists():
        pytest.skip("kubernetes-validate's command is not installed beside this Python")
    result = subprocess.run(
        [str(cli), "--quiet", "--strict", "-k", KUBERNETES, *map(str, FILES)],
        capture_output=True,
        text=True,
        check=False,
    )
    assert result.returncode == 0, result.stdout + result.stderr


def test_every_object_lives_in_the_mlops_namespace() -> None:
    for document in OBJECTS:
        if document["kind"] == "Namespace":
            assert document["metadata"]["name"] == NAMESPACE
        else:
            assert document["metadata"].get("namespace") == NAMESPACE, document["metadata"]


def test_the_pieces_of_the_issue_are_there() -> None:
    names = {(d["kind"], d["metadata"]["name"]) for d in OBJECTS}
    assert {
        ("Namespace", "mlops"),
        ("ConfigMap", "mlops-settings"),
        ("Deployment", "mlops-api"),
        ("Service", "mlops-api"),
        ("HorizontalPodAutoscaler", "mlops-api"),
        ("PodDisruptionBudget", "mlops-api"),
        ("Deployment", "mlops-monitor"),
        ("Service", "mlops-monitor"),
        ("Job", "mlops-db-upgrade"),
        ("Deployment", "mlops-ui"),
        ("Service", "mlops-ui"),
        ("NetworkPolicy", "mlops-api-ingress"),
        ("NetworkPolicy", "mlops-monitor-ingress"),
    } <= names
    assert named("Deployment", "mlops-api")["spec"]["replicas"] == 3
    assert named("Deployment", "mlops-monitor")["spec"]["replicas"] == 2
    assert container_of("mlops-api")["command"] == ["mlops", "serve"]
    assert container_of("mlops-monitor")["command"] == ["mlops", "monitor"]
    assert container_of("mlops-ui")["command"] == ["mlops", "ui"]
    job = named("Job", "mlops-db-upgrade")["spec"]
    assert job["backoffLimit"] >= 1
    assert job["ttlSecondsAfterFinished"] > 0
    assert job["template"]["spec"]["containers"][0]["command"] == ["mlops", "db", "upgrade"]


# Wiring -----------------------------------------------------------------------------------------


def test_every_service_selects_exactly_one_workload_and_a_port_it_declares() -> None:
    for service in of_kind("Service"):
        name = service["metadata"]["name"]
        assert service["spec"].get("type", "ClusterIP") == "ClusterIP", name
        matches = selected(service["spec"]["selector"])
        assert [w["kind"] for w in matches] == ["Deployment"], name
        (workload,) = matches
        for port in service["spec"]["ports"]:
            assert any(port["targetPort"] in port_keys(c) for c in pod_spec(workload)["containers"])


def test_deployment_selectors_match_only_their_own_pods() -> None:
    for deployment in of_kind("Deployment"):
        selector = deployment["spec"]["selector"]["matchLabels"]
        assert selected(selector) == [deployment], deployment["metadata"]["name"]


def test_probes_and_scrape_annotations_name_declared_ports() -> None:
    for workload, container in containers():
        name = workload["metadata"]["name"]
        for probe in ("startupProbe", "readinessProbe", "livenessProbe"):
            if probe in container:
                assert container[probe]["httpGet"]["port"] in port_keys(container), (name, probe)
        long_running = container in pod_spec(workload)["containers"]
        if workload["kind"] == "Deployment" and long_running:  # the kubelet must watch it
            assert {"readinessProbe", "livenessProbe"} <= set(container), name
    api = container_of("mlops-api")
    assert api["readinessProbe"]["httpGet"]["path"] == "/ready"
    assert api["startupProbe"]["httpGet"]["path"] == "/ready"
    assert api["livenessProbe"]["httpGet"]["path"] == "/health"
    assert container_of("mlops-ui")["readinessProbe"]["httpGet"]["path"] == "/_stcore/health"
    for deployment in of_kind("Deployment"):
        annotations = deployment["spec"]["template"]["metadata"].get("annotations", {})
        if annotations.get("prometheus.io/scrape") == "true":
            port = int(annotations["prometheus.io/port"])
            assert port_number(deployment, port) == port
            assert annotations["prometheus.io/path"] == "/metrics"


def test_hpa_and_disruption_budgets_govern_existing_deployments() -> None:
    deployments = {d["metadata"]["name"]: d for d in of_kind("Deployment")}
    minimum = {name: d["spec"].get("replicas", 1) for name, d in deployments.items()}
    for hpa in of_kind("HorizontalPodAutoscaler"):
        target = hpa["spec"]["scaleTargetRef"]
        assert (target["apiVersion"], target["kind"]) == ("apps/v1", "Deployment")
        assert target["name"] in deployments
        # `kubectl apply` sets the manifest's count; it must not undercut the HPA's floor.
        assert hpa["spec"]["minReplicas"] == minimum[target["name"]]
        assert hpa["spec"]["maxReplicas"] > hpa["spec"]["minReplicas"]
        assert [m["resource"]["name"] for m in hpa["spec"]["metrics"]] == ["cpu"]
        (container,) = pod_spec(deployments[target["name"]])["containers"]
        assert "cpu" in container["resources"]["requests"]  # utilisation is of the request
        minimum[target["name"]] = hpa["spec"]["minReplicas"]
    budgets = of_kind("PodDisruptionBudget")
    assert {p["metadata"]["name"] for p in budgets} >= {"mlops-api", "mlops-monitor"}
    for pdb in budgets:
        (deployment,) = selected(pdb["spec"]["selector"]["matchLabels"])
        assert deployment["kind"] == "Deployment"
        replicas = minimum[deployment["metadata"]["name"]]
        if "minAvailable" in pdb["spec"]:
            allowed = replicas - pdb["spec"]["minAvailable"]
        else:
            allowed = pdb["spec"]["maxUnavailable"]
        # At least one pod may be evicted (a node drain proceeds), never all of them.
        assert 1 <= allowed < replicas, pdb["metadata"]["name"]


def test_ingress_backends_are_existing_service_ports() -> None:
    services = {s["metadata"]["name"]: s for s in of_kind("Service")}
    for ingress in of_kind("Ingress"):
        for rule in ingress["spec"]["rules"]:
            for path in rule["http"]["paths"]:
                backend = path["backend"]["service"]
                ports = {
                    key
                    for p in services[backend["name"]]["spec"]["ports"]
                    for key in (p["name"], p["port"])
                }
                assert set(backend["port"].values()) <= ports, backend
        tls_hosts = {host for tls in ingress["spec"]["tls"] for host in tls["hosts"]}
        assert {rule["host"] for rule in ingress["spec"]["rules"]} <= tls_hosts


def test_network_policies_deny_by_default_and_open_every_service_port() -> None:
    policies = of_kind("NetworkPolicy")
    assert any(p["spec"]["podSelector"] == {} and "ingress" not in p["spec"] for p in policies), (
        "a default-deny ingress policy"
    )
    for policy in policies:
        selector = policy["spec"]["podSelector"].get("matchLabels", {})
        assert selector == {} or selected(selector), policy["metadata"]["name"]
    for service in of_kind("Service"):
        (workload,) = selected(service["spec"]["selector"])
        for port in service["spec"]["ports"]:
            number = port_number(workload, port["targetPort"])
            assert any(
                selects(p["spec"]["podSelector"].get("matchLabels", {}), workload)
                and any(
                    allowed["port"] == number
                    for rule in p["spec"].get("ingress", [])
                    for allowed in rule.get("ports", [])
                )
                for p in policies
            ), (service["metadata"]["name"], number)
    # The monitor answers Prometheus (metrics) and Alertmanager (the retrain webhook) only.
    monitor_rules = named("NetworkPolicy", "mlops-monitor-ingress")["spec"]["ingress"]
    assert [rule["from"] for rule in monitor_rules] == [
        [{"namespaceSelector": {"matchLabels": {"kubernetes.io/metadata.name": "monitoring"}}}],
        [{"podSelector": {"matchLabels": {"app.kubernetes.io/name": "mlops-alertmanager"}}}],
    ]


# References -------------------------------------------------------------------------------------


def test_secret_keys_read_are_exactly_the_documented_ones() -> None:
    read = set()
    for workload, container in containers():
        for variable in container.get("env", []):
            ref = variable.get("valueFrom", {}).get("secretKeyRef")
            if ref:
                if ref["name"] not in OPTIONAL_SECRETS:
                    assert ref.get("optional") is not True, (workload["metadata"]["name"], ref)
                read.add((ref["name"], ref["key"]))
        assert "secretRef" not in str(container.get("envFrom", [])), "keys must be named"
    for workload in workloads():
        for volume in pod_spec(workload).get("volumes", []):
            if "secret" in volume:
                secret = volume["secret"]
                assert secret["items"], "keys must be named"  # not every key as a file
                read |= {(secret["secretName"], item["key"]) for item in secret["items"]}
    for ingress in of_kind("Ingress"):
        for tls in ingress["spec"]["tls"]:
            read |= {(tls["secretName"], "tls.crt"), (tls["secretName"], "tls.key")}
    assert read == documented("Secrets")
    assert set(PLACEHOLDERS) <= read


def test_configmaps_read_exist_and_their_keys_are_documented() -> None:
    configmaps = {d["metadata"]["name"]: d.get("data", {}) for d in of_kind("ConfigMap")}
    for workload, container in containers():
        for source in container.get("envFrom", []):
            assert source["configMapRef"]["name"] in configmaps, workload["metadata"]["name"]
        for variable in container.get("env", []):
            ref = variable.get("valueFrom", {}).get("configMapKeyRef")
            if ref:
                assert ref["key"] in configmaps[ref["name"]], (workload["metadata"]["name"], ref)
    for workload in workloads():
        for volume in pod_spec(workload).get("volumes", []):
            if "configMap" in volume:
                source = volume["configMap"]
                assert source.get("optional") is not True
                for item in source.get("items", []):
                    assert item["key"] in configmaps[source["name"]], source
    keys = {(name, key) for name, data in configmaps.items() for key in data}
    assert keys == documented("ConfigMap keys")


def test_every_mlops_variable_is_a_setting() -> None:
    named_variables = {v["name"] for _, c in containers() for v in c.get("env", [])}
    settings_maps = [
        d for d in of_kind("ConfigMap") if d["metadata"]["name"] not in mounted_configmaps()
    ]
    named_variables |= {key for d in settings_maps for key in d.get("data", {})}
    assert named_variables >= ALERT_VARIABLES  # every setting of the template reaches the pod
    for variable in sorted(named_variables - ALERT_VARIABLES):
        if variable.startswith("MLOPS_"):
            field = variable.removeprefix("MLOPS_")
            assert field.lower() in Settings.model_fields or field in PLANNED, variable
    for data in (d.get("data", {}) for d in settings_maps):
        assert all(key.startswith("MLOPS_") for key in data)


def test_each_container_environment_makes_valid_settings(monkeypatch: pytest.MonkeyPatch) -> None:
    built = {}
    for workload, container in containers():
        names = [v["name"] for v in container.get("env", [])]
        assert len(names) == len(set(names)), workload["metadata"]["name"]
        with monkeypatch.context() as patch:
            for variable in [v for v in os.environ if v.startswith("MLOPS_")]:
                patch.delenv(variable)
            for variable, value in environment(container).items():
                patch.setenv(variable, value)
            built[workload["metadata"]["name"]] = Settings()
    api, monitor, ui = built["mlops-api"], built["mlops-monitor"], built["mlops-ui"]
    assert (api.host, api.port, api.workers) == ("0.0.0.0", 5000, 2)
    assert port_number(named("Deployment", "mlops-api"), "http") == api.port
    assert api.drift_interval_seconds == 0  # serving workers do no periodic heavy work
    assert api.weights_sync_seconds == 1
    assert api.admin_token is not None
    assert api.feedback_token is not None
    for settings in (api, monitor):
        assert str(settings.artifacts_dir) == "/artifacts"
        assert settings.database_url is not None
    assert monitor.host == "0.0.0.0"
    assert monitor.drift_interval_seconds > 0
    # Retrain on drift ships off; its webhook token (a Secret key) reaches the monitor only.
    assert monitor.retrain_on_drift == "off"
    assert monitor.retrain_webhook_token is not None
    assert api.retrain_webhook_token is None
    assert ui.retrain_webhook_token is None
    assert port_number(named("Deployment", "mlops-monitor"), "metrics") == monitor.monitor_port
    # The API's multiprocess metrics folder sits on a writable emptyDir.
    mounts = {m["mountPath"] for m in container_of("mlops-api")["volumeMounts"]}
    assert api.metrics_dir is not None
    assert any(api.metrics_dir.is_relative_to(mount) for mount in mounts)
    assert (ui.host, ui.ui_port) == ("0.0.0.0", port_number(named("Deployment", "mlops-ui"), 8501))
    api_service = named("Service", "mlops-api")
    assert ui.api_url == f"http://mlops-api:{api_service['spec']['ports'][0]['port']}"
    assert ui.admin_token is None  # the UI's weight form asks a person for it


# Hardening --------------------------------------------------------------------------------------


def test_pods_meet_the_restricted_pod_security_standard() -> None:
    namespace = named("Namespace", NAMESPACE)["metadata"]["labels"]
    assert namespace["pod-security.kubernetes.io/enforce"] == "restricted"
    for workload in workloads():
        name, spec = workload["metadata"]["name"], pod_spec(workload)
        context = spec["securityContext"]
        assert context["runAsNonRoot"] is True, name
        assert (context["runAsUser"], context["runAsGroup"]) == (UID, UID), name
        assert context["seccompProfile"] == {"type": "RuntimeDefault"}, name
        assert spec["automountServiceAccountToken"] is False, name
        assert not {"hostNetwork", "hostPID", "hostIPC"} & set(spec), name
        # emptyDir, and ConfigMap or Secret files: no hostPath, no persistent volume.
        for volume in spec["volumes"]:
            (kind,) = set(volume) - {"name"}
            assert kind in {"emptyDir", "configMap", "secret"}, (name, volume)
        for container in spec.get("initContainers", []) + spec["containers"]:
            security = container["securityContext"]
            assert security["readOnlyRootFilesystem"] is True, name
            assert security["allowPrivilegeEscalation"] is False, name
            assert security["capabilities"] == {"drop": ["ALL"]}, name
            assert security.get("privileged") is not True, name
            assert security.get("runAsUser", UID) == UID, name


def test_containers_have_resources_and_a_writable_tmp_only() -> None:
    for workload, container in containers():
        name = workload["metadata"]["name"]
        for bound in ("requests", "limits"):
            assert {"cpu", "memory"} <= set(container["resources"][bound]), (name, bound)
        mounts = {m["mountPath"] for m in container.get("volumeMounts", [])}
        assert "/tmp" in mounts, name  # writable scratch on a read-only root
        # The models are baked into the image at /artifacts: a mount there would hide them.
        assert not any(m == "/artifacts" or m.startswith("/artifacts/") for m in mounts), name


def test_images_are_pinned_to_one_release_tag() -> None:
    tags = set()
    for workload, container in containers():
        image, name = container["image"], workload["metadata"]["name"]
        repository, _, tag = image.rpartition(":")
        assert "/" not in tag, (name, image)  # a registry port, no tag
        assert tag not in ("", "latest"), (name, image)
        if repository in THIRD_PARTY_IMAGES:
            assert re.fullmatch(THIRD_PARTY_IMAGES[repository], tag), (name, image)
            continue
        tags.add(tag)
        wanted = "mlops-ui" if name == "mlops-ui" else "mlops-api"
        assert repository.rsplit("/", 1)[-1] == wanted, (name, image)
    assert len(tags) == 1, f"the API, monitor, Job and UI must come from one release: {tags}"


def test_service_links_are_off_because_they_would_collide_with_settings() -> None:
    links = set()
    for service in of_kind("Service"):
        prefix = service["metadata"]["name"].upper().replace("-", "_")
        links |= {f"{prefix}_SERVICE_HOST", f"{prefix}_SERVICE_PORT", f"{prefix}_PORT"}
        for port in service["spec"]["ports"]:
            links.add(f"{prefix}_PORT_{port['port']}_{port['protocol']}")
    colliding = {
        link for link in links if link.removeprefix("MLOPS_").lower() in Settings.model_fields
    }
    assert "MLOPS_UI_PORT" in colliding  # "tcp://10.0.0.12:8501" would not parse as a port
    for workload in workloads():
        assert pod_spec(workload)["enableServiceLinks"] is False, workload["metadata"]["name"]


def test_no_secret_values_in_the_repository() -> None:
    assert of_kind("Secret") == []
    for path in K8S.rglob("*"):
        if path.is_file():
            assert "postgresql://" not in path.read_text(), path


def test_every_file_is_documented() -> None:
    for path in K8S.rglob("*"):
        if path.is_file():
            assert f"`{path.relative_to(K8S).as_posix()}`" in DOC, path


# Prometheus -------------------------------------------------------------------------------------


def scrape_config() -> dict[str, Any]:
    config: dict[str, Any] = yaml.safe_load(PROMETHEUS_CONFIG.read_text())
    return config


def test_scrape_config_discovers_the_pods_and_names_the_jobs_the_alerts_use() -> None:
    config = scrape_config()
    assert config["rule_files"] == [ALERTS.name]
    assert ALERTS.exists()
    (job,) = config["scrape_configs"]
    (discovery,) = job["kubernetes_sd_configs"]
    assert discovery == {"role": "pod", "namespaces": {"names": [NAMESPACE]}}
    rules = job["relabel_configs"]
    assert {
        "source_labels": ["__meta_kubernetes_pod_annotation_prometheus_io_scrape"],
        "action": "keep",
        "regex": "true",
    } in rules
    (job_rule,) = [rule for rule in rules if rule.get("target_label") == "job"]
    assert job_rule["source_labels"] == ["__meta_kubernetes_pod_annotation_prometheus_io_job"]
    annotated = {
        d["spec"]["template"]["metadata"]["annotations"]["prometheus.io/job"]
        for d in of_kind("Deployment")
        if "prometheus.io/job" in d["spec"]["template"]["metadata"].get("annotations", {})
    }
    assert annotated == {"mlops-api", "mlops-monitor"}
    assert set(re.findall(r'job="([^"]+)"', ALERTS.read_text())) == annotated
    # Prometheus needs to list the pods it discovers.
    (role,) = of_kind("Role")
    assert {"pods"} == {r for rule in role["rules"] for r in rule["resources"]}
    (binding,) = of_kind("RoleBinding")
    assert binding["roleRef"]["name"] == role["metadata"]["name"]


def test_promtool_accepts_the_scrape_config(tmp_path: Path) -> None:
    promtool = shutil.which("promtool")
    if promtool is None:
        pytest.skip("promtool is not installed (Debian package prometheus)")
    shutil.copy(ALERTS, tmp_path / ALERTS.name)  # rule_files is relative to the config
    config_file = tmp_path / "prometheus.yml"
    shutil.copy(PROMETHEUS_CONFIG, config_file)
    command = [promtool, "check", "config", str(config_file)]
    result = subprocess.run(command, capture_output=True, text=True, check=False)
    if (
        result.returncode != 0
        and "kubernetes_sd_configs not found" in result.stdout + result.stderr
    ):
        # Debian's Prometheus is built without Kubernetes discovery: promtool checks the rest
        # (relabel rules and their regexes, the rule file) with a static target in its place.
        config = scrape_config()
        for job in config["scrape_configs"]:
            job.pop("kubernetes_sd_configs")
            job["static_configs"] = [{"targets": ["pod.invalid:5000"]}]
        config_file.write_text(yaml.safe_dump(config))
        result = subprocess.run(command, capture_output=True, text=True, check=False)
    assert result.returncode == 0, result.stdout + result.stderr
    assert "SUCCESS: 1 rule files found" in result.stdout


# Alertmanager -----------------------------------------------------------------------------------


def alertmanager_pod() -> tuple[dict[str, Any], dict[str, Any], dict[str, Any]]:
    """(pod spec, init container rendering the config, Alertmanager container)."""
    spec = pod_spec(named("Deployment", "mlops-alertmanager"))
    (render_config,) = spec["initContainers"]
    (alertmanager,) = spec["containers"]
    return spec, render_config, alertmanager


def mount_path(container: dict[str, Any], volume: str) -> str:
    (path,) = [m["mountPath"] for m in container["volumeMounts"] if m["name"] == volume]
    return str(path)


def flag(args: list[str], name: str) -> str:
    (value,) = [arg.split("=", 1)[1] for arg in args if arg.startswith(f"--{name}=")]
    return value


def test_the_alertmanager_template_configmap_is_the_repository_file() -> None:
    configmap = named("ConfigMap", "mlops-alertmanager-template")
    # Byte for byte, so the cluster cannot route alerts differently from docker-compose.
    assert configmap["data"] == {"alertmanager.yml": ALERTMANAGER_TEMPLATE.read_text()}
    expected = {
        "apiVersion": "v1",
        "kind": "ConfigMap",
        "metadata": {
            "name": "mlops-alertmanager-template",
            "namespace": NAMESPACE,
            "labels": {
                "app.kubernetes.io/name": "mlops-alertmanager",
                "app.kubernetes.io/part-of": "mlops",
            },
        },
        "data": {"alertmanager.yml": ALERTMANAGER_TEMPLATE.read_text(encoding="utf-8")},
    }
    assert configmap == expected


def test_alertmanager_renders_its_config_first_and_reads_the_password_from_a_file() -> None:
    deployment = named("Deployment", "mlops-alertmanager")
    assert deployment["spec"]["replicas"] == 1
    spec, render_config, alertmanager = alertmanager_pod()
    volumes = {volume["name"]: volume for volume in spec["volumes"]}
    # The init container renders the ConfigMap's template with the project's CLI...
    command = render_config["command"]
    assert command[:3] == ["mlops", "alerting", "config"]
    template, out = command[command.index("--template") + 1], command[command.index("--out") + 1]
    template_volume = volumes["template"]["configMap"]
    assert template_volume["name"] == "mlops-alertmanager-template"
    (item,) = template_volume["items"]
    assert template == f"{mount_path(render_config, 'template')}/{item['path']}"
    # ...into an emptyDir that Alertmanager reads (read-only) as its configuration.
    assert "emptyDir" in volumes["config"]
    config_dir = mount_path(render_config, "config")
    assert out == f"{config_dir}/alertmanager.yml"
    args = alertmanager["args"]
    assert flag(args, "config.file") == out.replace(config_dir, mount_path(alertmanager, "config"))
    assert flag(args, "storage.path") == mount_path(alertmanager, "data")
    assert flag(args, "cluster.listen-address") == ""  # one replica: no gossip
    readonly = {m["name"] for m in alertmanager["volumeMounts"] if m.get("readOnly")}
    assert {"config", "alerting-secrets"} <= readonly
    # Every setting of the template comes from the optional Secret, except the paths of the
    # password and token files: those two are never environment variables, only mounted files.
    env = {variable["name"]: variable for variable in render_config["env"]}
    assert set(env) == ALERT_VARIABLES
    file_settings = {
        "MLOPS_ALERT_SMTP_PASSWORD_FILE": "smtp-password",
        "MLOPS_ALERT_RETRAIN_TOKEN_FILE": "retrain-webhook-token",
    }
    for name, variable in env.items():
        if name in file_settings:
            continue
        ref = variable["valueFrom"]["secretKeyRef"]
        assert (ref["name"], ref.get("optional")) == ("mlops-alerting", True), name
        assert ref["key"] not in file_settings.values(), name
    secret = volumes["alerting-secrets"]["secret"]
    assert (secret["secretName"], secret["optional"]) == ("mlops-alerting", True)
    files = {item["key"]: item["path"] for item in secret["items"]}
    assert set(files) == set(file_settings.values())
    for name, key in file_settings.items():
        assert env[name]["value"] == f"{mount_path(alertmanager, 'alerting-secrets')}/{files[key]}"
    for container in (render_config, alertmanager):
        assert "envFrom" not in container
    assert "env" not in alertmanager
    # Probes on Alertmanager's own endpoints; the Service and its port.
    assert alertmanager["readinessProbe"]["httpGet"]["path"] == "/-/ready"
    assert alertmanager["livenessProbe"]["httpGet"]["path"] == "/-/healthy"
    assert port_number(deployment, "http") == 9093
    (port,) = named("Service", "mlops-alertmanager")["spec"]["ports"]
    assert (port["port"], port["targetPort"]) == (9093, "http")


@pytest.mark.parametrize("secret", ["given", "absent"])
def test_the_rendered_alertmanager_config_is_valid(
    tmp_path: Path, secret: str, monkeypatch: pytest.MonkeyPatch
) -> None:
    _, render_config, _ = alertmanager_pod()
    if secret == "given":
        env = environment(render_config)
    else:  # no Secret mlops-alerting: only the plain values
        env = {v["name"]: v["value"] for v in render_config["env"] if "value" in v}
    rendered = render(ALERTMANAGER_TEMPLATE.read_text(), env)
    config = yaml.safe_load(rendered)
    receivers = {receiver["name"]: receiver for receiver in config["receivers"]}
    if secret == "given":
        (email,) = receivers["webhook-and-email"]["email_configs"]
        assert email["auth_password_file"] == env["MLOPS_ALERT_SMTP_PASSWORD_FILE"]
        assert "auth_password" not in email
        (retrain,) = receivers["retrain"]["webhook_configs"]
        assert retrain["url"] == PLACEHOLDERS[("mlops-alerting", "retrain-url")]
        credentials = retrain["http_config"]["authorization"]
        assert credentials == {"credentials_file": env["MLOPS_ALERT_RETRAIN_TOKEN_FILE"]}
    else:
        assert all(set(receiver) == {"name"} for receiver in receivers.values())
    amtool = shutil.which("amtool")
    if amtool is None:
        pytest.skip("amtool is not installed (Debian package prometheus-alertmanager)")
    config_file = tmp_path / "alertmanager.yml"
    config_file.write_text(rendered)
    result = subprocess.run(
        [amtool, "check-config", str(config_file)], capture_output=True, text=True, check=False
    )
    assert result.returncode == 0, result.stdout + result.stderr


def test_alertmanager_and_the_monitor_share_the_retrain_token_and_the_monitor_admits_it() -> None:
    # One Secret key: the monitor's MLOPS_RETRAIN_WEBHOOK_TOKEN, Alertmanager's credentials file.
    env = {variable["name"]: variable for variable in container_of("mlops-monitor")["env"]}
    assert env["MLOPS_RETRAIN_ON_DRIFT"] == {"name": "MLOPS_RETRAIN_ON_DRIFT", "value": "off"}
    ref = env["MLOPS_RETRAIN_WEBHOOK_TOKEN"]["valueFrom"]["secretKeyRef"]
    assert ref == {"name": "mlops-alerting", "key": "retrain-webhook-token", "optional": True}
    spec, _, _ = alertmanager_pod()
    (volume,) = [v for v in spec["volumes"] if v["name"] == "alerting-secrets"]
    assert volume["secret"]["secretName"] == ref["name"]
    assert ref["key"] in {item["key"] for item in volume["secret"]["items"]}
    # The URL the docs suggest names the monitor Service's port, which the policy opens to
    # Alertmanager's pods.
    url = PLACEHOLDERS[("mlops-alerting", "retrain-url")]
    service = named("Service", "mlops-monitor")
    (port,) = service["spec"]["ports"]
    assert url == f"http://{service['metadata']['name']}.{NAMESPACE}.svc:{port['port']}/alerts"
    number = port_number(named("Deployment", "mlops-monitor"), port["targetPort"])
    alertmanager_pods = pod_labels(named("Deployment", "mlops-alertmanager"))
    admitted = [
        rule
        for rule in named("NetworkPolicy", "mlops-monitor-ingress")["spec"]["ingress"]
        if any(
            "podSelector" in peer
            and peer["podSelector"]["matchLabels"].items() <= alertmanager_pods.items()
            for peer in rule["from"]
        )
    ]
    assert [rule["ports"] for rule in admitted] == [[{"port": number, "protocol": "TCP"}]]


def test_only_prometheus_reaches_alertmanager_and_it_sends_alerts_there() -> None:
    (rule,) = named("NetworkPolicy", "mlops-alertmanager-ingress")["spec"]["ingress"]
    assert rule["from"] == [
        {"namespaceSelector": {"matchLabels": {"kubernetes.io/metadata.name": "monitoring"}}}
    ]
    assert rule["ports"] == [{"port": 9093, "protocol": "TCP"}]
    service = named("Service", "mlops-alertmanager")
    (port,) = service["spec"]["ports"]
    target = f"{service['metadata']['name']}.{NAMESPACE}.svc:{port['port']}"
    (alertmanagers,) = scrape_config()["alerting"]["alertmanagers"]
    assert alertmanagers == {"static_configs": [{"targets": [target]}]}
