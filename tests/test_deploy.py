"""Static checks of the deploy files, and the EC2 stack created against moto."""

from __future__ import annotations

import importlib.machinery
import importlib.util
import os
import re
import shutil
import subprocess
import sys
from pathlib import Path
from types import ModuleType

import pytest
import yaml

ROOT = Path(__file__).resolve().parents[1]
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


def tool(name: str) -> str:
    path = shutil.which(name) or shutil.which(name, path=str(Path(sys.executable).parent))
    if path is None:
        if os.environ.get("CI"):
            pytest.fail(f"{name} missing in CI: .ci/run and the dev extras install it")
        pytest.skip(f"{name} not installed")
    return path


# --- docker compose --------------------------------------------------------------------------


def test_compose_is_valid_for_docker_compose() -> None:
    result = subprocess.run(
        [tool("docker-compose"), "config", "-q"],
        cwd=ROOT,
        capture_output=True,
        text=True,
        check=False,
    )
    assert result.returncode == 0, result.stderr


def test_compose_services_ports_volumes_network() -> None:
    assert "version" not in COMPOSE
    services = COMPOSE["services"]
    assert set(services) == {"trainer", "api", "ui", "prometheus"}
    assert services["api"]["ports"] == ["5000:5000"]
    assert services["ui"]["ports"] == ["8501:8501"]
    assert services["prometheus"]["ports"] == ["${PROMETHEUS_BIND:-127.0.0.1}:9090:9090"]
    assert set(COMPOSE["volumes"]) == {"artifacts", "api-data", "prometheus-data"}
    assert COMPOSE["networks"]["mlops-network"]["name"] == "mlops-network"
    for name, service in services.items():
        assert service["networks"] == ["mlops-network"], name
        assert "limits" in service["deploy"]["resources"], name
        assert "restart" in service, name
    assert "artifacts:/artifacts:ro" in services["api"]["volumes"]
    assert "artifacts:/artifacts" in services["trainer"]["volumes"]


def test_compose_start_order_and_health() -> None:
    services = COMPOSE["services"]
    assert services["api"]["depends_on"]["trainer"]["condition"] == "service_completed_successfully"
    assert services["ui"]["depends_on"]["api"]["condition"] == "service_healthy"
    assert services["trainer"]["restart"] == "no"
    assert "test -f /artifacts/manifest.json ||" in services["trainer"]["command"][-1]
    assert services["prometheus"]["healthcheck"]["test"][0] == "CMD"


def test_compose_pins_prometheus_mounts_config_read_only_and_keeps_secrets_out() -> None:
    prometheus = COMPOSE["services"]["prometheus"]
    assert re.fullmatch(r"prom/prometheus:v\d+\.\d+\.\d+", prometheus["image"])
    assert all(volume.endswith(":ro") for volume in prometheus["volumes"] if "deploy/" in volume)
    assert (
        COMPOSE["services"]["api"]["environment"]["MLOPS_ADMIN_TOKEN"] == "${MLOPS_ADMIN_TOKEN:-}"
    )


# --- Dockerfiles ---------------------------------------------------------------------------


@pytest.mark.parametrize("dockerfile", DOCKERFILES, ids=lambda p: p.name)
def test_dockerfile_is_hadolint_clean(dockerfile: Path) -> None:
    result = subprocess.run(
        [tool("hadolint"), "--failure-threshold", "warning", str(dockerfile)],
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


# --- Jenkins -------------------------------------------------------------------------------

JENKINSFILE = (ROOT / "Jenkinsfile").read_text()
MAKEFILE_TARGETS = set(
    re.findall(r"^([a-z][a-z-]*):", (ROOT / "Makefile").read_text(), flags=re.MULTILINE)
)


def test_jenkins_stages_follow_diagram_3() -> None:
    assert re.findall(r"stage\('([^']+)'\)", JENKINSFILE) == DIAGRAM_3_STAGES


def test_every_jenkins_step_is_a_make_target_or_script() -> None:
    commands = re.findall(r"sh '([^']+)'", JENKINSFILE)
    assert commands
    for command in commands:
        program, *rest = command.split()
        if program == "make":
            assert rest[0] in MAKEFILE_TARGETS, command
        else:
            script = ROOT / program
            assert script.exists(), command
            assert os.access(script, os.X_OK), command


def test_jenkins_credentials_and_branch_guards() -> None:
    for stage in ("Push to Registry", "Deploy", "Health Check", "Smoke Test"):
        body = JENKINSFILE.split(f"stage('{stage}')")[1].split("stage(")[0]
        assert "when { branch 'main' }" in body, stage
    assert "withCredentials([usernamePassword(credentialsId: 'registry'" in JENKINSFILE
    assert "sshUserPrivateKey(credentialsId: 'ec2-ssh'" in JENKINSFILE
    assert "junit " in JENKINSFILE
    assert "cleanWs()" in JENKINSFILE


# --- EC2 ------------------------------------------------------------------------------------


def test_cloudformation_template_is_cfn_lint_clean() -> None:
    result = subprocess.run(
        [tool("cfn-lint"), str(ROOT / "deploy" / "aws" / "stack.yml")],
        capture_output=True,
        text=True,
        check=False,
    )
    assert result.returncode == 0, result.stdout + result.stderr


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


def test_deploy_dry_run_prints_the_plan(capsys: pytest.CaptureFixture[str]) -> None:
    script = load_deploy_script()
    env = {**ENV, "DEPLOY_VPC_ID": "vpc-1", "DEPLOY_SUBNET_ID": "subnet-1"}
    assert script.main(["--dry-run"], env=env) == 0
    out = capsys.readouterr().out
    assert '"AdminCidr": "198.51.100.7/32"' in out
    assert '"ImageTag": "abc123"' in out


@pytest.mark.parametrize(
    ("change", "message"),
    [
        ({"DEPLOY_ADMIN_CIDR": "0.0.0.0/0"}, "would open SSH and Prometheus"),
        ({"DEPLOY_APP_CIDR": "everyone"}, "is not a CIDR"),
        ({"DEPLOY_KEY_NAME": ""}, "missing environment variables: DEPLOY_KEY_NAME"),
    ],
)
def test_deploy_refuses_unsafe_or_missing_parameters(
    change: dict[str, str], message: str, capsys: pytest.CaptureFixture[str]
) -> None:
    env = {**ENV, "DEPLOY_VPC_ID": "vpc-1", "DEPLOY_SUBNET_ID": "subnet-1", **change}
    assert load_deploy_script().main(["--dry-run"], env=env) == 2
    assert message in capsys.readouterr().err


def test_stack_against_moto(monkeypatch: pytest.MonkeyPatch) -> None:
    moto = pytest.importorskip("moto")
    import boto3

    for name in ("AWS_ACCESS_KEY_ID", "AWS_SECRET_ACCESS_KEY", "AWS_SESSION_TOKEN"):
        monkeypatch.setenv(name, "testing")
    monkeypatch.setenv("AWS_DEFAULT_REGION", "eu-west-1")
    with moto.mock_aws():
        ec2 = boto3.client("ec2", region_name="eu-west-1")
        vpc = ec2.create_vpc(CidrBlock="10.0.0.0/16")["Vpc"]["VpcId"]
        subnet = ec2.create_subnet(VpcId=vpc, CidrBlock="10.0.1.0/24")["Subnet"]["SubnetId"]
        ec2.create_key_pair(KeyName="mlops")
        image = ec2.describe_images()["Images"][0]["ImageId"]
        env = {**ENV, "DEPLOY_VPC_ID": vpc, "DEPLOY_SUBNET_ID": subnet, "DEPLOY_IMAGE_ID": image}
        boto3.client("ssm", region_name="eu-west-1").put_parameter(
            Name="/mlops/test/ami", Value=image, Type="String"
        )
        env["DEPLOY_IMAGE_ID"] = "/mlops/test/ami"
        assert load_deploy_script().main(["--region", "eu-west-1"], env=env) == 0

        stack = boto3.client("cloudformation", region_name="eu-west-1").describe_stacks(
            StackName="mlops"
        )["Stacks"][0]
        assert stack["StackStatus"] == "CREATE_COMPLETE"
        outputs = {o["OutputKey"]: o["OutputValue"] for o in stack["Outputs"]}
        ingress = ec2.describe_security_groups(
            Filters=[{"Name": "vpc-id", "Values": [vpc]}, {"Name": "group-name", "Values": ["*"]}]
        )["SecurityGroups"]
        rules = {
            (rule["FromPort"], rng["CidrIp"])
            for group in ingress
            for rule in group.get("IpPermissions", [])
            for rng in rule.get("IpRanges", [])
        }
        assert rules == {
            (5000, "203.0.113.0/24"),
            (8501, "203.0.113.0/24"),
            (22, "198.51.100.7/32"),
            (9090, "198.51.100.7/32"),
        }
        addresses = ec2.describe_addresses()["Addresses"]
        assert len(addresses) == 1
        instances = ec2.describe_instances()["Reservations"][0]["Instances"]
        assert addresses[0]["InstanceId"] == instances[0]["InstanceId"]
        assert outputs["ApiUrl"] == f"http://{addresses[0]['PublicIp']}:5000"
        assert outputs["UiUrl"].endswith(":8501")
