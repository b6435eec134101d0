"""Static checks of the deploy files, and the EC2 stack created against moto."""

from __future__ import annotations

import fnmatch
import importlib.machinery
import importlib.util
import json
import os
import re
import stat
import subprocess
import sys
import tomllib
from collections.abc import Iterator
from pathlib import Path
from types import ModuleType
from typing import Any

import pytest
import yaml
from packaging.requirements import Requirement
from packaging.utils import canonicalize_name

from mlops_pipeline.cli import alerting
from mlops_pipeline.config import Settings
from tests.support.helpers import require_tool

ROOT = Path(__file__).resolve().parents[2]
COMPOSE = yaml.safe_load((ROOT / "docker-compose.yml").read_text())
DOCKERFILES = [ROOT / "deploy" / "docker" / name for name in ("api.Dockerfile", "ui.Dockerfile")]
DIAGRAM_3_STAGES = [
    "Checkout",
    "Setup Python",
    "Run Tests",
    "Train Models",
    "Build Images",
    "Push to Registry",
    "Deploy",
    "Health Check",
    "Smoke Test",
]


# --- docker compose --------------------------------------------------------------------------

TOKENS = {
    "MLOPS_ADMIN_TOKEN": "a" * 43,
    "MLOPS_FEEDBACK_TOKEN": "f" * 43,
    "MLOPS_GRAFANA_ADMIN_PASSWORD": "g" * 43,
}
TOKEN_VALUE = '${%s:?set %s (python3 -c "import secrets; print(secrets.token_urlsafe(32))")}'


def compose(tmp_path: Path, *args: str, **variables: str) -> subprocess.CompletedProcess[str]:
    """docker-compose with exactly these variables: no .env file, no token from the caller."""
    env = {k: v for k, v in os.environ.items() if not k.startswith(("MLOPS_", "TLS_", "API_"))}
    empty = tmp_path / "empty.env"
    empty.touch()
    return subprocess.run(
        [require_tool("docker-compose"), "--env-file", str(empty), *args],
        cwd=ROOT,
        env={**env, **variables},
        capture_output=True,
        text=True,
        check=False,
    )


@pytest.mark.parametrize(
    "profile", [[], ["--profile", "production"]], ids=["default", "production"]
)
def test_compose_is_valid_for_docker_compose(tmp_path: Path, profile: list[str]) -> None:
    result = compose(tmp_path, *profile, "config", "-q", **TOKENS)
    assert result.returncode == 0, result.stderr


@pytest.mark.parametrize("missing", sorted(TOKENS))
def test_compose_refuses_to_start_without_a_token(tmp_path: Path, missing: str) -> None:
    given = {name: value for name, value in TOKENS.items() if name != missing}
    result = compose(tmp_path, "config", "-q", **given)
    assert result.returncode != 0
    assert f"set {missing} (python3 -c" in result.stderr
    assert "secrets.token_urlsafe(32)" in result.stderr


def test_compose_data_folder_is_a_named_volume_unless_api_data_is_set(tmp_path: Path) -> None:
    def data_mount(**variables: str) -> str:
        result = compose(tmp_path, "config", **TOKENS, **variables)
        assert result.returncode == 0, result.stderr
        volumes = yaml.safe_load(result.stdout)["services"]["api"]["volumes"]
        return next(volume for volume in volumes if ":/data" in volume)

    assert data_mount().startswith("api-data:/data")
    assert data_mount(API_DATA="/srv/mlops/api-data").startswith("/srv/mlops/api-data:/data")


def test_compose_services_ports_volumes_network() -> None:
    assert "version" not in COMPOSE
    services = COMPOSE["services"]
    assert set(services) == {
        "trainer",
        "migrate",
        "monitor",
        "api",
        "ui",
        "prometheus",
        "alertmanager-config",
        "alertmanager",
        "grafana",
        "proxy",
    }
    # Plain HTTP and plaintext gRPC only on loopback; the proxy is the one public entry.
    assert services["api"]["ports"] == [
        "${API_BIND:-127.0.0.1}:5000:5000",
        "${API_BIND:-127.0.0.1}:8081:8081",
    ]
    assert services["ui"]["ports"] == ["${UI_BIND:-127.0.0.1}:8501:8501"]
    assert services["prometheus"]["ports"] == ["${PROMETHEUS_BIND:-127.0.0.1}:9090:9090"]
    assert services["alertmanager"]["ports"] == ["${ALERTMANAGER_BIND:-127.0.0.1}:9093:9093"]
    assert services["grafana"]["ports"] == ["127.0.0.1:3000:3000"]  # no *_BIND: loopback only
    assert "ports" not in services["alertmanager-config"]
    assert services["proxy"]["ports"] == ["80:80", "443:443", "8443:8443", "8444:8444"]
    assert services["proxy"]["profiles"] == ["production"]
    assert all("profiles" not in service for name, service in services.items() if name != "proxy")
    assert set(COMPOSE["volumes"]) == {
        "artifacts",
        "api-data",
        "prometheus-data",
        "alertmanager-config",
        "alertmanager-data",
        "grafana-data",
    }
    assert COMPOSE["networks"]["mlops-network"]["name"] == "mlops-network"
    for name, service in services.items():
        assert service["networks"] == ["mlops-network"], name
        assert "limits" in service["deploy"]["resources"], name
        assert "restart" in service, name
    assert "artifacts:/artifacts:ro" in services["api"]["volumes"]
    assert "${API_DATA:-api-data}:/data" in services["api"]["volumes"]
    assert "artifacts:/artifacts" in services["trainer"]["volumes"]


def test_compose_start_order_and_health() -> None:
    services = COMPOSE["services"]
    assert services["api"]["depends_on"]["trainer"]["condition"] == "service_completed_successfully"
    assert services["ui"]["depends_on"]["api"]["condition"] == "service_healthy"
    assert services["proxy"]["depends_on"]["api"]["condition"] == "service_healthy"
    assert services["trainer"]["restart"] == "no"
    assert "test -f /artifacts/manifest.json ||" in services["trainer"]["command"][-1]
    for name in ("prometheus", "alertmanager", "grafana", "proxy"):
        assert services[name]["healthcheck"]["test"][0] == "CMD", name


def test_compose_pins_images_mounts_config_read_only_and_requires_tokens() -> None:
    services = COMPOSE["services"]
    assert re.fullmatch(r"prom/prometheus:v\d+\.\d+\.\d+", services["prometheus"]["image"])
    assert re.fullmatch(r"nginx:\d+\.\d+\.\d+-alpine", services["proxy"]["image"])
    assert re.fullmatch(r"grafana/grafana:\d+\.\d+\.\d+", services["grafana"]["image"])
    for name in ("prometheus", "alertmanager-config", "grafana", "proxy"):
        mounts = [v for v in services[name]["volumes"] if isinstance(v, str) and "deploy/" in v]
        assert mounts, name
        assert all(volume.endswith(":ro") for volume in mounts), name
    for token in ("MLOPS_ADMIN_TOKEN", "MLOPS_FEEDBACK_TOKEN"):
        assert services["api"]["environment"][token] == TOKEN_VALUE % (token, token), token
    # Grafana's admin password: required like the tokens (never Grafana's admin/admin), and
    # only Grafana gets it.
    token = "MLOPS_GRAFANA_ADMIN_PASSWORD"
    assert services["grafana"]["environment"]["GF_SECURITY_ADMIN_PASSWORD"] == TOKEN_VALUE % (
        token,
        token,
    )
    assert sum(token in str(service) for service in services.values()) == 1
    # The UI labels with the feedback token; it never holds the admin token, so reaching the UI
    # is not enough to change the traffic split (its weight form asks for the token).
    ui = services["ui"]["environment"]
    token = "MLOPS_FEEDBACK_TOKEN"
    assert ui[token] == TOKEN_VALUE % (token, token)
    assert "MLOPS_ADMIN_TOKEN" not in ui


ALERT_SETTINGS = [
    "MLOPS_ALERT_WEBHOOK_URL",
    "MLOPS_ALERT_EMAIL_TO",
    "MLOPS_ALERT_SMTP_FROM",
    "MLOPS_ALERT_SMTP_SMARTHOST",
    "MLOPS_ALERT_SMTP_USERNAME",
    "MLOPS_ALERT_SMTP_PASSWORD_FILE",
    "MLOPS_ALERT_RETRAIN_URL",
    "MLOPS_ALERT_RETRAIN_TOKEN_FILE",
]


def test_compose_alertmanager_is_rendered_first_pinned_and_on_loopback() -> None:
    services = COMPOSE["services"]
    render, alertmanager = services["alertmanager-config"], services["alertmanager"]
    # The one-shot renderer: the api image and its CLI, the template read-only, settings from the
    # host with empty defaults (an unset destination is left out, never a placeholder).
    assert render["image"] == services["api"]["image"]
    assert render["command"] == [
        "mlops",
        "alerting",
        "config",
        "--template",
        "/templates/alertmanager.yml",
        "--out",
        "/config/alertmanager.yml",
    ]
    assert render["restart"] == "no"
    assert "./deploy/alertmanager:/templates:ro" in render["volumes"]
    assert "alertmanager-config:/config" in render["volumes"]
    assert (ROOT / "deploy" / "alertmanager" / "alertmanager.yml").exists()
    assert render["environment"] == {name: f"${{{name}:-}}" for name in ALERT_SETTINGS}
    # The SMTP password is a mounted file, never a variable.
    assert "environment" not in alertmanager
    assert not re.search(r"MLOPS_ALERT_SMTP_PASSWORD\b", (ROOT / "docker-compose.yml").read_text())
    # Alertmanager: pinned official image, started only on a rendered config, read-only mounts.
    assert re.fullmatch(r"prom/alertmanager:v\d+\.\d+\.\d+", alertmanager["image"])
    assert alertmanager["depends_on"] == {
        "alertmanager-config": {"condition": "service_completed_successfully"}
    }
    assert alertmanager["command"] == [
        "--config.file=/config/alertmanager.yml",
        "--storage.path=/alertmanager",
    ]
    assert "alertmanager-config:/config:ro" in alertmanager["volumes"]
    assert "alertmanager-data:/alertmanager" in alertmanager["volumes"]
    secrets = [v for v in alertmanager["volumes"] if isinstance(v, dict)]
    assert secrets == [
        {
            "type": "bind",
            "source": f"${{{host_file}:-/dev/null}}",
            "target": target,
            "read_only": True,
        }
        for host_file, target in [
            ("MLOPS_ALERT_SMTP_PASSWORD_HOST_FILE", "/run/secrets/smtp-password"),
            ("MLOPS_ALERT_RETRAIN_TOKEN_HOST_FILE", "/run/secrets/retrain-webhook-token"),
        ]
    ]
    assert alertmanager["healthcheck"]["test"] == [
        "CMD",
        "wget",
        "-qO-",
        "http://127.0.0.1:9093/-/healthy",
    ]
    assert alertmanager["restart"] == "unless-stopped"
    # Prometheus (deploy/prometheus/prometheus.yml: alertmanager:9093) starts after it.
    prometheus = services["prometheus"]
    assert prometheus["depends_on"]["alertmanager"] == {"condition": "service_started"}
    assert "alertmanager:9093" in (ROOT / "deploy" / "prometheus" / "prometheus.yml").read_text()


def test_compose_alertmanager_port_stays_on_loopback_when_rendered(tmp_path: Path) -> None:
    result = compose(tmp_path, "config", **TOKENS)
    assert result.returncode == 0, result.stderr
    services = yaml.safe_load(result.stdout)["services"]
    (port,) = services["alertmanager"]["ports"]
    published = port if isinstance(port, str) else port.get("host_ip", "")
    assert "127.0.0.1" in str(published)
    assert services["alertmanager-config"]["environment"]["MLOPS_ALERT_WEBHOOK_URL"] in ("", None)


def test_compose_retrain_on_drift_is_off_unless_configured(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    template = (ROOT / "deploy" / "alertmanager" / "alertmanager.yml").read_text()

    def rendered(**variables: str) -> tuple[dict[str, Any], dict[str, Any]]:
        """(the monitor's environment, Alertmanager's receivers) as compose would start them."""
        result = compose(tmp_path, "config", **TOKENS, **variables)
        assert result.returncode == 0, result.stderr
        services = yaml.safe_load(result.stdout)["services"]
        env = {k: v or "" for k, v in services["alertmanager-config"]["environment"].items()}
        receivers = yaml.safe_load(alerting.render(template, env))["receivers"]
        return services["monitor"]["environment"], {r["name"]: r for r in receivers}

    def monitor_settings(env: dict[str, Any]) -> Settings:
        """Settings as `mlops monitor` reads them from this environment (and no other)."""
        with monkeypatch.context() as patch:
            for variable in [v for v in os.environ if v.startswith("MLOPS_")]:
                patch.delenv(variable)
            for variable, value in env.items():
                patch.setenv(variable, value or "")
            return Settings()

    # Defaults: no webhook in the monitor, no call to it from Alertmanager.
    monitor, receivers = rendered()
    settings = monitor_settings(monitor)
    assert settings.retrain_on_drift == "off"
    assert settings.retrain_webhook_token is None  # empty disables, never opens
    assert receivers["retrain"] == {"name": "retrain"}
    # Switched on: the monitor's port on the compose network, the token from the mounted file.
    token, target = "r" * 43, "/run/secrets/retrain-webhook-token"
    monitor, receivers = rendered(
        MLOPS_RETRAIN_ON_DRIFT="register",
        MLOPS_RETRAIN_WEBHOOK_TOKEN=token,
        MLOPS_ALERT_RETRAIN_URL="http://monitor:9100/alerts",
        MLOPS_ALERT_RETRAIN_TOKEN_FILE=target,
    )
    settings = monitor_settings(monitor)
    assert settings.retrain_on_drift == "register"
    assert settings.retrain_webhook_token is not None
    assert settings.retrain_webhook_token.get_secret_value() == token
    (hook,) = receivers["retrain"]["webhook_configs"]
    assert hook["url"] == f"http://monitor:{settings.monitor_port}/alerts"
    assert hook["http_config"]["authorization"] == {"credentials_file": target}
    # The monitor listens on every interface of its container (the image's MLOPS_HOST), is on
    # Alertmanager's network, and publishes nothing on the host.
    services = COMPOSE["services"]
    dockerfile = (ROOT / "deploy" / "docker" / "api.Dockerfile").read_text()
    assert "MLOPS_HOST=0.0.0.0" in dockerfile
    assert "MLOPS_HOST" not in monitor
    assert services["monitor"]["networks"] == services["alertmanager"]["networks"]
    assert "ports" not in services["monitor"]
    # The token reaches the monitor only; Alertmanager reads it from a file.
    for name, service in services.items():
        if name != "monitor":
            assert "MLOPS_RETRAIN_WEBHOOK_TOKEN" not in str(service.get("environment", {})), name


# --- Dockerfiles ---------------------------------------------------------------------------


@pytest.mark.parametrize("dockerfile", DOCKERFILES, ids=lambda p: p.name)
def test_dockerfile_is_hadolint_clean(dockerfile: Path) -> None:
    result = subprocess.run(
        [require_tool("hadolint"), "--failure-threshold", "warning", str(dockerfile)],
        capture_output=True,
        text=True,
        check=False,
    )
    assert result.returncode == 0, result.stdout + result.stderr


@pytest.mark.parametrize("dockerfile", DOCKERFILES, ids=lambda p: p.name)
def test_dockerfile_is_multi_stage_pinned_non_root_with_json_healthcheck(dockerfile: Path) -> None:
    text = dockerfile.read_text()
    bases = re.findall(r"^FROM (\S+)", text, flags=re.MULTILINE)
    assert len(bases) == 2
    assert all(re.fullmatch(r"python:\d+\.\d+\.\d+-slim-bookworm", base) for base in bases)
    assert re.search(r"^USER 10001:10001$", text, flags=re.MULTILINE)
    assert re.search(r'HEALTHCHECK .*\\\n\s+CMD \["python"', text)
    final_stage = text.split("\nFROM ")[-1]
    assert "pip install" not in final_stage  # nothing is built in the image that runs
    assert (ROOT / ".dockerignore").exists()


LOCK = ROOT / "deploy" / "docker" / "requirements.lock"


def locked_packages() -> dict[str, tuple[str, int]]:
    """name -> (pinned version, number of sha256 hashes), from the lock's requirement entries."""
    entries = re.split(r"\n(?=[A-Za-z0-9])", LOCK.read_text())
    locked = {}
    for entry in entries:
        match = re.match(r"([A-Za-z0-9][A-Za-z0-9._-]*)==(\S+)", entry)
        if match:
            name = canonicalize_name(match.group(1))
            locked[name] = (match.group(2), len(re.findall(r"--hash=sha256:[0-9a-f]{64}", entry)))
    return locked


def test_lock_pins_every_runtime_dependency_with_hashes_inside_its_range() -> None:
    pyproject = tomllib.loads((ROOT / "pyproject.toml").read_text())
    # granian and orjson are about to join [project].dependencies; the lock has them already.
    expected = [
        *pyproject["project"]["dependencies"],
        "granian>=2.5,<3",
        "orjson>=3.10,<4",
        *pyproject["build-system"]["requires"],
    ]
    locked = locked_packages()
    for line in expected:
        requirement = Requirement(line)
        name = canonicalize_name(requirement.name)
        assert name in locked, f"{name} is not in the lock: run scripts/lock"
        version, hashes = locked[name]
        assert hashes >= 1, name
        assert requirement.specifier.contains(version, prereleases=True), (
            f"{name}=={version} does not satisfy {requirement.specifier}: run scripts/lock"
        )
        for extra in requirement.extras:  # psycopg[binary] -> psycopg-binary
            if canonicalize_name(f"{name}-{extra}") in locked:
                assert locked[canonicalize_name(f"{name}-{extra}")][0] == version
    assert all(hashes >= 1 for _, hashes in locked.values())


def test_lock_inputs_are_current() -> None:
    result = subprocess.run(
        [sys.executable, str(ROOT / "scripts" / "lock"), "--check"],
        capture_output=True,
        text=True,
        check=False,
    )
    assert result.returncode == 0, result.stderr


@pytest.mark.parametrize("dockerfile", DOCKERFILES, ids=lambda p: p.name)
def test_dockerfile_installs_the_lock_with_required_hashes(dockerfile: Path) -> None:
    build_stage = dockerfile.read_text().split("\nFROM ")[1]
    installs = re.findall(r"^RUN pip install (.+)$", build_stage, flags=re.MULTILINE)
    assert installs == [
        "--no-cache-dir --require-hashes -r requirements.lock",
        "--no-cache-dir --no-deps --no-build-isolation .",
    ]
    assert "COPY deploy/docker/requirements.lock ./" in build_stage
    # The lock layer comes first, so a source change does not reinstall every dependency.
    assert build_stage.index("requirements.lock") < build_stage.index("COPY src")


def test_dockerignore_lets_the_lock_into_the_build_context() -> None:
    patterns = [
        line.strip()
        for line in (ROOT / ".dockerignore").read_text().splitlines()
        if line.strip() and not line.startswith("#")
    ]
    included = True
    for pattern in patterns:  # the last matching pattern wins, as in Docker
        negated = pattern.startswith("!")
        if fnmatch.fnmatch("deploy/docker/requirements.lock", pattern.lstrip("!")):
            included = negated
    if not included:
        pytest.skip(
            ".dockerignore keeps deploy/docker/requirements.lock out of the build context: add"
            " '!deploy/docker/requirements.lock' (outside this change; the images cannot build)"
        )


# --- Jenkins -------------------------------------------------------------------------------

JENKINSFILE = (ROOT / "Jenkinsfile").read_text()
MAKEFILE_TARGETS = set(
    re.findall(r"^([a-z][a-z-]*):", (ROOT / "Makefile").read_text(), flags=re.MULTILINE)
)


def test_jenkins_stages_follow_diagram_3() -> None:
    assert re.findall(r"stage\('([^']+)'\)", JENKINSFILE) == DIAGRAM_3_STAGES


def shell_steps(text: str) -> list[str]:
    """The shell of every `sh` step, one-line (sh '...') and block (sh '''...''') alike."""
    blocks = re.findall(r"sh '''\n(.*?)'''", text, flags=re.DOTALL)
    return blocks + re.findall(r"sh '([^']+)'", text)


def stage_body(name: str) -> str:
    return JENKINSFILE.split(f"stage('{name}')")[1].split("stage(")[0]


def test_every_jenkins_step_is_a_make_target_or_script() -> None:
    steps = shell_steps(JENKINSFILE)
    assert steps
    for step in steps:
        for target in re.findall(r"(?:^|\s)make ([a-z][a-z-]*)", step):
            assert target in MAKEFILE_TARGETS, step
        for program in re.findall(r"(?:^|[\s(])(scripts/[a-z]+)", step):
            script = ROOT / program
            assert script.exists(), step
            assert os.access(script, os.X_OK), step
    assert "scripts/deploy" in stage_body("Deploy")
    assert "scripts/healthcheck" in stage_body("Health Check")
    assert "make smoke" in stage_body("Smoke Test")


def test_jenkins_shell_blocks_are_valid_sh() -> None:
    for step in shell_steps(JENKINSFILE):
        result = subprocess.run(["sh", "-n"], input=step, capture_output=True, text=True)
        assert result.returncode == 0, step + result.stderr


def test_jenkins_credentials_and_branch_guards() -> None:
    for stage in ("Push to Registry", "Deploy", "Health Check", "Smoke Test"):
        assert "when { branch 'main' }" in stage_body(stage), stage
    assert "withCredentials([usernamePassword(credentialsId: 'registry'" in JENKINSFILE
    deploy = re.sub(r"\s+", " ", stage_body("Deploy"))
    for credential, variable in [
        ("mlops-admin-token", "MLOPS_ADMIN_TOKEN"),
        ("mlops-feedback-token", "MLOPS_FEEDBACK_TOKEN"),
    ]:
        assert f"string(credentialsId: '{credential}', variable: '{variable}')" in deploy
    # Releases go through SSM Run Command: no SSH key in the pipeline.
    assert "sshUserPrivateKey" not in JENKINSFILE
    assert "junit " in JENKINSFILE
    assert "cleanWs()" in JENKINSFILE


@pytest.mark.parametrize("stage", ["Health Check", "Smoke Test"])
def test_jenkins_checks_the_deployed_stack_through_its_stack_outputs(stage: str) -> None:
    body = stage_body(stage)
    for local in ("127.0.0.1", "localhost", "0.0.0.0"):
        assert local not in body, (stage, local)
    assert "$(scripts/deploy --output ApiUrl)" in body
    # The proxy's certificate is pinned from the stack, not skipped.
    assert "$(scripts/deploy --tls-cert " in body
    assert 'export REQUESTS_CA_BUNDLE="$CA_FILE"' in body
    for insecure in ("--insecure", "-k ", "verify=False", "CURL_CA_BUNDLE="):
        assert insecure not in body
    if stage == "Health Check":
        assert "$(scripts/deploy --output UiUrl)" in body
        assert "export MLOPS_API_URL MLOPS_UI_URL" in body
    else:
        assert 'make smoke API_URL="$API_URL"' in body


# --- EC2: the template ----------------------------------------------------------------------

STACK_FILE = ROOT / "deploy" / "aws" / "stack.yml"


class CfnLoader(yaml.SafeLoader):
    """YAML with CloudFormation's short forms (!Ref x -> {"Ref": x}, !Sub -> {"Fn::Sub": ...})."""


def _cfn_tag(loader: CfnLoader, suffix: str, node: yaml.Node) -> dict[str, Any]:
    if isinstance(node, yaml.ScalarNode):
        value: Any = loader.construct_scalar(node)
    elif isinstance(node, yaml.SequenceNode):
        value = loader.construct_sequence(node, deep=True)
    else:
        value = loader.construct_mapping(node, deep=True)  # type: ignore[arg-type]
    if suffix == "GetAtt" and isinstance(value, str):
        value = value.split(".", 1)
    return {suffix if suffix == "Ref" else f"Fn::{suffix}": value}


CfnLoader.add_multi_constructor("!", _cfn_tag)
STACK = yaml.load(STACK_FILE.read_text(), Loader=CfnLoader)
RESOURCES = STACK["Resources"]


def user_data() -> str:
    return str(RESOURCES["Instance"]["Properties"]["UserData"]["Fn::Base64"]["Fn::Sub"][0])


def test_cloudformation_template_is_cfn_lint_clean() -> None:
    result = subprocess.run(
        [require_tool("cfn-lint"), str(STACK_FILE)],
        capture_output=True,
        text=True,
        check=False,
    )
    assert result.returncode == 0, result.stdout + result.stderr


def test_prediction_log_lives_on_an_encrypted_snapshotted_volume() -> None:
    volume = RESOURCES["DataVolume"]
    assert volume["Type"] == "AWS::EC2::Volume"
    assert volume["DeletionPolicy"] == "Snapshot"
    assert volume["UpdateReplacePolicy"] == "Snapshot"
    assert volume["Properties"]["Encrypted"] is True
    assert volume["Properties"]["VolumeType"] == "gp3"
    attachment = RESOURCES["DataVolumeAttachment"]["Properties"]
    assert attachment == {
        "InstanceId": {"Ref": "Instance"},
        "VolumeId": {"Ref": "DataVolume"},
        "Device": "/dev/sdf",
    }
    # The release script mounts it where compose's API_DATA points.
    assert "DATA_DEVICE=/dev/sdf" in user_data()
    assert "DATA_DIR=/srv/mlops" in user_data()
    release = (ROOT / "deploy" / "aws" / "release.sh").read_text()
    assert "API_DATA=%s" in release
    assert '"$DATA_DIR/api-data"' in release


def test_updates_cannot_replace_or_restart_the_instance_by_surprise() -> None:
    image = STACK["Parameters"]["ImageId"]
    assert image["Type"] == "AWS::EC2::Image::Id"
    assert "Default" not in image
    # The tag lives in an SSM parameter: a release changes it without touching the user data
    # (a user data change stops and starts the instance).
    instance = json.dumps(RESOURCES["Instance"])
    assert "${ImageTag}" not in instance
    assert '"Ref": "ImageTag"' not in instance
    assert RESOURCES["ImageTagParameter"]["Properties"]["Value"] == {"Ref": "ImageTag"}


def test_user_data_and_release_script_keep_tokens_out_of_logs() -> None:
    script = user_data()
    assert "set -euo pipefail" in script
    assert not re.search(r"set -[a-z]*x", script)
    assert "TOKEN=" not in script  # only parameter names
    release = (ROOT / "deploy" / "aws" / "release.sh").read_text()
    assert not re.search(r"^\s*set -[a-z]*x", release, flags=re.MULTILINE)
    assert "get-parameter --with-decryption" in release
    assert "--profile production" in release
    assert "umask 077" in release


def test_shell_scripts_pass_shellcheck() -> None:
    scripts = [
        ROOT / "deploy" / "aws" / "release.sh",
        ROOT / "deploy" / "nginx" / "selfsigned-cert",
    ]
    body = re.sub(r"\$\{(AWS::)?[A-Za-z:]+\}", "x", user_data())  # after Fn::Sub
    result = subprocess.run(
        [require_tool("shellcheck"), *map(str, scripts), "-"],
        input=body,
        capture_output=True,
        text=True,
        check=False,
    )
    assert result.returncode == 0, result.stdout + result.stderr


def test_security_group_and_instance_role() -> None:
    ingress = RESOURCES["SecurityGroup"]["Properties"]["SecurityGroupIngress"]
    assert {(rule["FromPort"], rule["CidrIp"]["Ref"]) for rule in ingress} == {
        (443, "AppCidr"),
        (8443, "AppCidr"),
        (8444, "AppCidr"),
        (80, "AppCidr"),
        (22, "AdminCidr"),
        (9090, "AdminCidr"),
    }
    role = RESOURCES["InstanceRole"]["Properties"]
    assert role["ManagedPolicyArns"] == [
        {"Fn::Sub": "arn:${AWS::Partition}:iam::aws:policy/AmazonSSMManagedInstanceCore"}
    ]
    statements = {
        statement["Sid"]: statement
        for policy in role["Policies"]
        for statement in policy["PolicyDocument"]["Statement"]
    }
    token_arns = [
        {
            "Fn::Sub": "arn:${AWS::Partition}:ssm:${AWS::Region}:${AWS::AccountId}:parameter"
            f"${{{name}}}"
        }
        for name in ("AdminTokenParameter", "FeedbackTokenParameter")
    ]
    read = statements["ReadOwnParameters"]
    assert set(read["Action"]) == {"ssm:GetParameter", "ssm:GetParameters"}
    assert read["Resource"][:2] == token_arns
    # The managed policy reads every parameter; this Deny narrows it to the stack's own.
    deny = statements["NoOtherParameters"]
    assert deny["Effect"] == "Deny"
    assert deny["NotResource"] == read["Resource"]
    decrypt = statements["DecryptOwnTokens"]
    assert decrypt["Action"] == "kms:Decrypt"
    assert decrypt["Condition"]["StringEquals"]["kms:EncryptionContext:PARAMETER_ARN"] == token_arns
    assert RESOURCES["Instance"]["Properties"]["IamInstanceProfile"] == {"Ref": "InstanceProfile"}


def test_outputs_are_https_urls_of_the_proxy() -> None:
    outputs = STACK["Outputs"]
    api = json.dumps(outputs["ApiUrl"]["Value"])
    ui = json.dumps(outputs["UiUrl"]["Value"])
    assert api.count("https://") == 2  # with the domain name and without
    assert api.count(":8443") == 2
    assert ui.count("https://") == 2
    assert not re.search(r":\d", ui)  # port 443
    assert "http://" not in api + ui


# --- EC2: scripts/deploy against moto --------------------------------------------------------


def load_deploy_script() -> ModuleType:
    loader = importlib.machinery.SourceFileLoader("deploy_script", str(ROOT / "scripts" / "deploy"))
    spec = importlib.util.spec_from_loader("deploy_script", loader)
    assert spec is not None
    module = importlib.util.module_from_spec(spec)
    loader.exec_module(module)
    return module


ENV = {
    "DEPLOY_APP_CIDR": "203.0.113.0/24",
    "DEPLOY_ADMIN_CIDR": "198.51.100.7/32",
    "DEPLOY_KEY_NAME": "mlops",
    "DEPLOY_REPOSITORY_URL": "https://git.example.com/mlops.git",
    "REGISTRY": "registry.example.com/mlops",
    "TAG": "abc123",
}
# moto resolves UsePreviousValue only for parameters given when the stack was made (CloudFormation
# also knows the defaults), so the tests that update a stack give them all.
ALL_OPTIONAL = {
    "DEPLOY_INSTANCE_TYPE": "t3.small",
    "DEPLOY_DOMAIN_NAME": "mlops.example.com",
    "DEPLOY_DATA_VOLUME_SIZE": "30",
}
ADMIN_NAME, FEEDBACK_NAME = "/mlops/mlops/admin-token", "/mlops/mlops/feedback-token"
REGION = "eu-west-1"


def test_deploy_dry_run_prints_the_plan(capsys: pytest.CaptureFixture[str]) -> None:
    script = load_deploy_script()
    env = {**ENV, "DEPLOY_VPC_ID": "vpc-1", "DEPLOY_SUBNET_ID": "subnet-1"}
    assert script.main(["--dry-run"], env=env) == 0
    out = capsys.readouterr().out
    assert '"AdminCidr": "198.51.100.7/32"' in out
    assert '"ImageTag": "abc123"' in out
    assert f'"AdminTokenParameter": "{ADMIN_NAME}"' in out
    assert "/aws/service/ami-amazon-linux-latest/al2023-ami-kernel-default-x86_64" in out


@pytest.mark.parametrize(
    ("change", "message"),
    [
        ({"DEPLOY_ADMIN_CIDR": "0.0.0.0/0"}, "would open SSH and Prometheus"),
        ({"DEPLOY_APP_CIDR": "everyone"}, "is not a CIDR"),
        ({"DEPLOY_KEY_NAME": ""}, "missing environment variables: DEPLOY_KEY_NAME"),
        ({"TAG": "bad tag"}, "is not a valid Docker tag"),
        ({"MLOPS_ADMIN_TOKEN": "short-secret"}, "MLOPS_ADMIN_TOKEN must be 16 to 512"),
        ({"MLOPS_FEEDBACK_TOKEN": "has spaces and $dollars"}, "MLOPS_FEEDBACK_TOKEN must be"),
    ],
)
def test_deploy_refuses_unsafe_or_missing_parameters(
    change: dict[str, str], message: str, capsys: pytest.CaptureFixture[str]
) -> None:
    env = {**ENV, "DEPLOY_VPC_ID": "vpc-1", "DEPLOY_SUBNET_ID": "subnet-1", **change}
    assert load_deploy_script().main(["--dry-run"], env=env) == 2
    captured = capsys.readouterr()
    assert message in captured.err
    for name in ("MLOPS_ADMIN_TOKEN", "MLOPS_FEEDBACK_TOKEN"):
        if name in change:
            assert change[name] not in captured.out + captured.err


@pytest.fixture
def aws(monkeypatch: pytest.MonkeyPatch) -> Iterator[dict[str, str]]:
    """A moto account with a VPC, a subnet and a key pair; yields the deploy environment."""
    moto = pytest.importorskip("moto")
    import boto3

    for name in ("AWS_ACCESS_KEY_ID", "AWS_SECRET_ACCESS_KEY", "AWS_SESSION_TOKEN"):
        monkeypatch.setenv(name, "testing")
    monkeypatch.setenv("AWS_DEFAULT_REGION", REGION)
    with moto.mock_aws():
        ec2 = boto3.client("ec2", region_name=REGION)
        vpc = ec2.create_vpc(CidrBlock="10.0.0.0/16")["Vpc"]["VpcId"]
        subnet = ec2.create_subnet(VpcId=vpc, CidrBlock="10.0.1.0/24")["Subnet"]["SubnetId"]
        ec2.create_key_pair(KeyName="mlops")
        yield {**ENV, "DEPLOY_VPC_ID": vpc, "DEPLOY_SUBNET_ID": subnet}


def client(name: str) -> Any:
    import boto3

    return boto3.client(name, region_name=REGION)


def stack_parameters() -> dict[str, str]:
    stack = client("cloudformation").describe_stacks(StackName="mlops")["Stacks"][0]
    return {p["ParameterKey"]: p["ParameterValue"] for p in stack["Parameters"]}


def secure_string(name: str) -> dict[str, Any]:
    return dict(client("ssm").get_parameter(Name=name, WithDecryption=True)["Parameter"])


def deploy(*args: str, env: dict[str, str]) -> int:
    return int(load_deploy_script().main(["--region", REGION, *args], env=env))


@pytest.mark.filterwarnings("ignore:Tried to parse AWS")
def test_stack_against_moto(aws: dict[str, str], capsys: pytest.CaptureFixture[str]) -> None:
    assert deploy(env=aws) == 0
    ec2 = client("ec2")
    stack = client("cloudformation").describe_stacks(StackName="mlops")["Stacks"][0]
    assert stack["StackStatus"] == "CREATE_COMPLETE"
    outputs = {o["OutputKey"]: o["OutputValue"] for o in stack["Outputs"]}
    groups = ec2.describe_security_groups(
        Filters=[{"Name": "vpc-id", "Values": [aws["DEPLOY_VPC_ID"]]}]
    )["SecurityGroups"]
    rules = {
        (rule["FromPort"], rng["CidrIp"])
        for group in groups
        for rule in group.get("IpPermissions", [])
        for rng in rule.get("IpRanges", [])
    }
    assert rules == {
        (443, "203.0.113.0/24"),
        (8443, "203.0.113.0/24"),
        (8444, "203.0.113.0/24"),
        (80, "203.0.113.0/24"),
        (22, "198.51.100.7/32"),
        (9090, "198.51.100.7/32"),
    }
    instance = ec2.describe_instances()["Reservations"][0]["Instances"][0]
    assert "IamInstanceProfile" in instance
    volume = ec2.describe_volumes(VolumeIds=[outputs["DataVolumeId"]])["Volumes"][0]
    assert volume["Attachments"][0]["InstanceId"] == instance["InstanceId"]
    # moto has no AWS::EC2::EIPAssociation: the address exists, its association is checked above.
    assert RESOURCES["ElasticIpAssociation"]["Properties"]["InstanceId"] == {"Ref": "Instance"}
    address = ec2.describe_addresses()["Addresses"][0]["PublicIp"]
    assert outputs["ApiUrl"] == f"https://{address}:8443"
    assert outputs["UiUrl"] == f"https://{address}"
    assert outputs["GrpcAddress"] == f"{address}:8444"
    assert outputs["InstanceId"] == instance["InstanceId"]
    printed = capsys.readouterr().out
    assert f"ApiUrl=https://{address}:8443" in printed


@pytest.mark.filterwarnings("ignore:Tried to parse AWS")
def test_first_deploy_generates_tokens_into_ssm_and_resolves_the_ami(
    aws: dict[str, str], capsys: pytest.CaptureFixture[str]
) -> None:
    assert deploy(env=aws) == 0
    tokens = [secure_string(name) for name in (ADMIN_NAME, FEEDBACK_NAME)]
    for token in tokens:
        assert token["Type"] == "SecureString"
        assert re.fullmatch(r"[A-Za-z0-9_-]{43}", token["Value"])  # token_urlsafe(32)
    assert tokens[0]["Value"] != tokens[1]["Value"]
    parameters = stack_parameters()
    assert parameters["AdminTokenParameter"] == ADMIN_NAME
    assert parameters["FeedbackTokenParameter"] == FEEDBACK_NAME
    latest = client("ssm").get_parameter(Name=load_deploy_script().AMI_PARAMETER)["Parameter"]
    assert parameters["ImageId"] == latest["Value"]
    stack = client("cloudformation").describe_stacks(StackName="mlops")["Stacks"][0]
    template = client("cloudformation").get_template(StackName="mlops")["TemplateBody"]
    captured = capsys.readouterr()
    for token in tokens:
        assert token["Value"] not in json.dumps(stack, default=str) + str(template)
        assert token["Value"] not in captured.out + captured.err


@pytest.mark.filterwarnings("ignore:Tried to parse AWS")
def test_tokens_from_the_environment_land_in_ssm_and_nowhere_else(
    aws: dict[str, str], capsys: pytest.CaptureFixture[str]
) -> None:
    given = {
        "MLOPS_ADMIN_TOKEN": "jenkins-admin-" + "x" * 30,
        "MLOPS_FEEDBACK_TOKEN": "fb-" + "y" * 30,
    }
    assert deploy(env={**aws, **given}) == 0
    assert secure_string(ADMIN_NAME)["Value"] == given["MLOPS_ADMIN_TOKEN"]
    assert secure_string(FEEDBACK_NAME)["Value"] == given["MLOPS_FEEDBACK_TOKEN"]
    captured = capsys.readouterr()
    for value in given.values():
        assert value not in captured.out + captured.err
        assert value not in json.dumps(stack_parameters())


@pytest.mark.filterwarnings("ignore:Tried to parse AWS")
def test_second_deploy_keeps_tokens_and_ami_and_releases_on_the_instance(
    aws: dict[str, str], monkeypatch: pytest.MonkeyPatch
) -> None:
    env = {**aws, **ALL_OPTIONAL}
    assert deploy(env=env) == 0
    first = {name: secure_string(name) for name in (ADMIN_NAME, FEEDBACK_NAME)}
    ami = stack_parameters()["ImageId"]
    instance = stack_outputs()["InstanceId"]
    # A newer "latest" AMI must not reach an existing stack.
    ssm = client("ssm")
    newer = [i["ImageId"] for i in client("ec2").describe_images()["Images"] if i["ImageId"] != ami]
    ssm.put_parameter(Name="/test/newer-ami", Value=newer[0], Type="String")
    script = load_deploy_script()
    monkeypatch.setattr(script, "AMI_PARAMETER", "/test/newer-ami")
    assert script.main(["--region", REGION], env={**env, "TAG": "def456"}) == 0

    for name, before in first.items():
        after = secure_string(name)
        assert (after["Value"], after["Version"]) == (before["Value"], before["Version"])
    parameters = stack_parameters()
    assert parameters["ImageId"] == ami
    assert parameters["ImageTag"] == "def456"
    assert stack_outputs()["InstanceId"] == instance
    commands = ssm.list_commands()["Commands"]
    assert len(commands) == 1
    assert commands[0]["InstanceIds"] == [instance]
    assert commands[0]["Parameters"]["commands"] == ["/opt/mlops/deploy/aws/release.sh def456"]


def stack_outputs() -> dict[str, str]:
    stack = client("cloudformation").describe_stacks(StackName="mlops")["Stacks"][0]
    return {o["OutputKey"]: o["OutputValue"] for o in stack["Outputs"]}


@pytest.mark.filterwarnings("ignore:Tried to parse AWS")
def test_release_changes_only_the_image_tag_and_runs_the_release_script(
    aws: dict[str, str], capsys: pytest.CaptureFixture[str]
) -> None:
    assert deploy(env={**aws, **ALL_OPTIONAL}) == 0
    before = stack_parameters()
    instance = stack_outputs()["InstanceId"]
    # --release needs nothing from the environment but AWS credentials.
    assert deploy("--release", "v2.0", env={}) == 0
    after = stack_parameters()
    assert after == {**before, "ImageTag": "v2.0"}
    ssm = client("ssm")
    assert ssm.get_parameter(Name="/mlops/mlops/image-tag")["Parameter"]["Value"] == "v2.0"
    (command,) = ssm.list_commands()["Commands"]
    assert command["DocumentName"] == "AWS-RunShellScript"
    assert command["InstanceIds"] == [instance]
    assert command["Parameters"]["commands"] == ["/opt/mlops/deploy/aws/release.sh v2.0"]
    assert stack_outputs()["InstanceId"] == instance
    assert deploy("--release", "v2; rm -rf /", env={}) == 2
    assert "not a valid Docker tag" in capsys.readouterr().err


def test_release_fails_when_the_command_fails() -> None:
    from botocore.exceptions import WaiterError

    class Waiter:
        def wait(self, **_: Any) -> None:
            raise WaiterError("CommandExecuted", "failed", {})

    class Ssm:
        def send_command(self, **_: Any) -> dict[str, Any]:
            return {"Command": {"CommandId": "c-1"}}

        def get_waiter(self, name: str) -> Waiter:
            assert name == "command_executed"
            return Waiter()

        def get_command_invocation(self, **_: Any) -> dict[str, str]:
            return {"Status": "Failed", "StandardErrorContent": "release: pull failed"}

    script = load_deploy_script()
    with pytest.raises(script.DeployError, match="release v1 on i-1: Failed"):
        script.run_release(Ssm(), "i-1", "v1")


@pytest.mark.filterwarnings("ignore:Tried to parse AWS")
def test_output_and_tls_cert_print_for_other_scripts(
    aws: dict[str, str], tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    assert deploy(env=aws) == 0
    capsys.readouterr()
    assert deploy("--output", "ApiUrl", env={}) == 0
    assert capsys.readouterr().out == stack_outputs()["ApiUrl"] + "\n"
    assert deploy("--output", "Nope", env={}) == 2
    assert "has no output Nope" in capsys.readouterr().err

    ssm = client("ssm")
    pem = "-----BEGIN CERTIFICATE-----\nMIIB\n-----END CERTIFICATE-----"
    ssm.put_parameter(Name="/mlops/mlops/tls-cert", Value=pem, Type="String", Overwrite=True)
    target = tmp_path / "reports" / "proxy.pem"
    assert deploy("--tls-cert", str(target), env={}) == 0
    assert capsys.readouterr().out == f"{target}\n"
    assert target.read_text() == pem + "\n"
    ssm.put_parameter(Name="/mlops/mlops/tls-cert", Value="ca-signed", Overwrite=True)
    assert deploy("--tls-cert", str(tmp_path / "other.pem"), env={}) == 0
    assert capsys.readouterr().out == ""
    assert not (tmp_path / "other.pem").exists()


def test_deploy_refuses_a_token_parameter_that_is_not_secure(aws: dict[str, str]) -> None:
    client("ssm").put_parameter(Name=ADMIN_NAME, Value="p" * 40, Type="String")
    assert deploy(env=aws) == 2


# --- the release script on the instance, with aws, docker and friends stubbed ------------------

STUB = """#!/bin/sh
printf '%s\\n' "$(basename "$0") $*" >> "{log}"
{body}
"""


def test_release_script_writes_a_private_env_file_and_never_prints_a_token(
    tmp_path: Path,
) -> None:
    require_tool("openssl")
    tokens = {"admin": "A" * 20 + "-admin-token", "feedback": "F" * 20 + "-feedback"}
    bin_dir, config, data = tmp_path / "bin", tmp_path / "etc", tmp_path / "srv"
    for folder in (bin_dir, config, data):
        folder.mkdir()
    log = tmp_path / "calls.log"
    stubs = {
        # Answers get-parameter by name; records everything (the log must never see a token).
        "aws": f"""case "$*" in
  *--with-decryption*/admin-token*) echo {tokens["admin"]} ;;
  *--with-decryption*/feedback-token*) echo {tokens["feedback"]} ;;
  *image-tag*) echo v7 ;;
esac""",
        "docker": "",
        "curl": "",
        "mountpoint": "exit 0",
        # chown to the image's uid 10001 needs root; the rest of install is real.
        "install": 'args=""; skip=0; for a in "$@"; do if [ $skip = 1 ]; then skip=0; continue; fi;'
        ' case "$a" in -o|-g) skip=1 ;; *) args="$args $a" ;; esac; done;'
        " exec /usr/bin/install $args",
    }
    for name, body in stubs.items():
        stub = bin_dir / name
        stub.write_text(STUB.format(log=log, body=body))
        stub.chmod(0o755)
    (config / "stack.env").write_text(
        "\n".join(
            [
                "AWS_REGION=eu-west-1",
                "REGISTRY=registry.example.com/mlops",
                "ADMIN_TOKEN_PARAMETER=/mlops/s/admin-token",
                "FEEDBACK_TOKEN_PARAMETER=/mlops/s/feedback-token",
                "IMAGE_TAG_PARAMETER=/mlops/s/image-tag",
                "TLS_CERT_PARAMETER=/mlops/s/tls-cert",
                "PUBLIC_HOST=127.0.0.1",
                "PUBLIC_IP=127.0.0.1",
                "DATA_DEVICE=/dev/null",
                f"DATA_DIR={data}",
            ]
        )
        + "\n"
    )
    env = {
        "PATH": f"{bin_dir}:{os.environ['PATH']}",
        "MLOPS_CONFIG_DIR": str(config),
        "REPO_DIR": str(ROOT),
        "MLOPS_RELEASE_CHECKED_OUT": "v7",  # skip the git checkout of this very repository
    }
    result = subprocess.run(
        ["bash", str(ROOT / "deploy" / "aws" / "release.sh")],
        env=env,
        capture_output=True,
        text=True,
        check=False,
    )
    assert result.returncode == 0, result.stdout + result.stderr
    env_file = config / "compose.env"
    assert stat.S_IMODE(env_file.stat().st_mode) == 0o600
    written = dict(line.split("=", 1) for line in env_file.read_text().splitlines())
    assert written["MLOPS_ADMIN_TOKEN"] == tokens["admin"]
    assert written["MLOPS_FEEDBACK_TOKEN"] == tokens["feedback"]
    assert written["TAG"] == "v7"  # from the image-tag parameter, as at first boot
    assert written["API_DATA"] == f"{data}/api-data"
    assert written["TLS_CERT_FILE"] == f"{data}/tls/cert.pem"
    assert stat.S_IMODE((data / "tls" / "key.pem").stat().st_mode) == 0o600
    calls = log.read_text()
    assert f"docker compose --env-file {env_file} --profile production up -d --no-build" in calls
    assert f"--value file://{data}/tls/cert.pem" in calls  # self-signed: published for pinning
    for token in tokens.values():
        assert token not in result.stdout + result.stderr + calls
