"""deploy/compose/scale-out.yml: PostgreSQL, several API replicas behind haproxy, the monitor."""

from __future__ import annotations

import os
import shutil
import subprocess
from pathlib import Path

import yaml

from tests.support.helpers import require_tool

ROOT = Path(__file__).resolve().parents[2]
COMPOSE = ROOT / "deploy" / "compose" / "scale-out.yml"
SECRETS = {
    "MLOPS_ADMIN_TOKEN": "a" * 32,
    "MLOPS_FEEDBACK_TOKEN": "f" * 32,
    "POSTGRES_PASSWORD": "p" * 32,
}


def compose_config(env: dict[str, str]) -> subprocess.CompletedProcess[str]:
    clean = {k: v for k, v in os.environ.items() if k not in SECRETS}
    return subprocess.run(
        [require_tool("docker-compose"), "-f", str(COMPOSE), "config"],
        env={**clean, **env},
        capture_output=True,
        text=True,
        check=False,
    )


def test_scale_out_compose_is_valid_and_needs_its_secrets() -> None:
    result = compose_config(SECRETS)
    assert result.returncode == 0, result.stderr
    assert SECRETS["POSTGRES_PASSWORD"] in result.stdout  # interpolated, so the file is complete
    for missing in SECRETS:
        refused = compose_config({k: v for k, v in SECRETS.items() if k != missing})
        assert refused.returncode != 0
        assert missing in refused.stderr


def test_replicas_sit_behind_the_proxy_on_postgresql() -> None:
    services = yaml.safe_load(COMPOSE.read_text())["services"]
    assert {"postgres", "migrate", "api", "monitor", "proxy", "ui", "prometheus"} <= set(services)
    assert services["api"]["deploy"]["replicas"] >= 2
    assert services["monitor"]["deploy"]["replicas"] >= 2
    assert "ports" not in services["api"]  # replicas are reached through the proxy only
    assert services["proxy"]["ports"] == ["${API_BIND:-127.0.0.1}:5000:5000"]
    for name in ("migrate", "api", "monitor"):
        assert services[name]["environment"]["MLOPS_DATABASE_URL"].startswith("postgresql://")
    assert services["api"]["depends_on"]["migrate"]["condition"] == (
        "service_completed_successfully"
    )
    assert "MLOPS_ADMIN_TOKEN" not in services["ui"]["environment"]


def test_haproxy_and_prometheus_configs_are_accepted(tmp_path: Path) -> None:
    haproxy = subprocess.run(
        [require_tool("haproxy"), "-c", "-f", str(ROOT / "deploy" / "haproxy" / "haproxy.cfg")],
        capture_output=True,
        text=True,
        check=False,
    )
    assert haproxy.returncode == 0, haproxy.stdout + haproxy.stderr
    shutil.copy(ROOT / "deploy" / "compose" / "prometheus-scale.yml", tmp_path / "prometheus.yml")
    shutil.copy(ROOT / "deploy" / "prometheus" / "alerts.yml", tmp_path / "alerts.yml")
    promtool = subprocess.run(
        [require_tool("promtool"), "check", "config", str(tmp_path / "prometheus.yml")],
        capture_output=True,
        text=True,
        check=False,
    )
    assert promtool.returncode == 0, promtool.stdout + promtool.stderr
