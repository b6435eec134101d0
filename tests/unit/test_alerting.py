"""deploy/alertmanager/alertmanager.yml: rendered from the environment, checked by amtool, and
every alert rule routed to the receiver its severity calls for."""

from __future__ import annotations

import subprocess
from pathlib import Path

import pytest
import yaml

from mlops_pipeline.cli.alerting import render
from tests.support.helpers import require_tool

ROOT = Path(__file__).resolve().parents[2]
TEMPLATE = (ROOT / "deploy" / "alertmanager" / "alertmanager.yml").read_text()
RULES = yaml.safe_load((ROOT / "deploy" / "prometheus" / "alerts.yml").read_text())
EVERYTHING = {
    "MLOPS_ALERT_WEBHOOK_URL": "http://alert-sink:9095/alerts",
    "MLOPS_ALERT_EMAIL_TO": "oncall@example.com",
    "MLOPS_ALERT_SMTP_FROM": "alertmanager@example.com",
    "MLOPS_ALERT_SMTP_SMARTHOST": "smtp.example.com:587",
    "MLOPS_ALERT_SMTP_USERNAME": "alertmanager",
    "MLOPS_ALERT_SMTP_PASSWORD_FILE": "/run/secrets/smtp-password",
    "MLOPS_ALERT_RETRAIN_URL": "http://monitor:9100/alerts",
    "MLOPS_ALERT_RETRAIN_TOKEN_FILE": "/run/secrets/retrain-webhook-token",
}


def amtool(*args: str) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [require_tool("amtool"), *args], capture_output=True, text=True, check=False
    )


@pytest.fixture
def full_config(tmp_path: Path) -> Path:
    path = tmp_path / "alertmanager.yml"
    path.write_text(render(TEMPLATE, EVERYTHING))
    return path


def test_the_template_holds_no_address_or_secret() -> None:
    body = "\n".join(line for line in TEMPLATE.splitlines() if not line.lstrip().startswith("#"))
    assert "@" not in body.replace("${", "")
    assert "http:" not in body
    assert "https:" not in body
    assert "password:" not in body  # only a password *file* is ever named


def test_settings_are_filled_in_as_quoted_values() -> None:
    rendered = yaml.safe_load(render(TEMPLATE, {**EVERYTHING, "MLOPS_ALERT_EMAIL_TO": 'a"b: c'}))
    receivers = {r["name"]: r for r in rendered["receivers"]}
    email = receivers["webhook-and-email"]["email_configs"][0]
    assert email["to"] == 'a"b: c'  # quoting keeps a hostile value a value
    assert email["auth_password_file"] == "/run/secrets/smtp-password"
    assert (
        receivers["webhook"]["webhook_configs"][0]["url"] == EVERYTHING["MLOPS_ALERT_WEBHOOK_URL"]
    )


def test_an_empty_password_file_setting_disables_email() -> None:
    rendered = yaml.safe_load(
        render(TEMPLATE, {**EVERYTHING, "MLOPS_ALERT_SMTP_PASSWORD_FILE": ""})
    )
    both = {r["name"]: r for r in rendered["receivers"]}["webhook-and-email"]
    assert "email_configs" not in both
    assert "webhook_configs" in both


def test_empty_settings_leave_a_destination_out() -> None:
    rendered = yaml.safe_load(render(TEMPLATE, {"MLOPS_ALERT_SMTP_SMARTHOST": "smtp:587"}))
    assert [set(r) for r in rendered["receivers"]] == [{"name"}, {"name"}, {"name"}]
    webhook_only = yaml.safe_load(
        render(TEMPLATE, {"MLOPS_ALERT_WEBHOOK_URL": "http://sink/alerts"})
    )
    both = {r["name"]: r for r in webhook_only["receivers"]}["webhook-and-email"]
    assert "email_configs" not in both  # incomplete SMTP settings: no e-mail at all
    assert "webhook_configs" in both


@pytest.mark.parametrize("settings", [EVERYTHING, {}], ids=["configured", "empty"])
def test_amtool_accepts_the_rendered_config(tmp_path: Path, settings: dict[str, str]) -> None:
    path = tmp_path / "alertmanager.yml"
    path.write_text(render(TEMPLATE, settings))
    result = amtool("check-config", str(path))
    assert result.returncode == 0, result.stdout + result.stderr
    assert "SUCCESS" in result.stdout


ALERTS = [
    (rule["alert"], rule["labels"]["severity"])
    for group in RULES["groups"]
    for rule in group["rules"]
]


@pytest.mark.parametrize(("alert", "severity"), ALERTS, ids=[name for name, _ in ALERTS])
def test_every_alert_reaches_the_receiver_of_its_severity(
    full_config: Path, alert: str, severity: str
) -> None:
    expected = {"critical": "webhook-and-email", "warning": "webhook"}[severity]
    if alert == "DriftDetected":  # people are told, and the monitor may retrain
        expected = f"retrain,{expected}"
    result = amtool(
        "config", "routes", "test", f"--config.file={full_config}",
        f"--verify.receivers={expected}", f"alertname={alert}", f"severity={severity}",
    )  # fmt: skip
    assert result.returncode == 0, result.stdout + result.stderr
    assert result.stdout.strip() == expected


def test_api_down_silences_the_alerts_that_depend_on_the_api(full_config: Path) -> None:
    config = yaml.safe_load(full_config.read_text())
    (rule,) = config["inhibit_rules"]
    assert rule["source_matchers"] == ['alertname="APIDown"']
    silenced = rule["target_matchers"][0].split("=~", 1)[1].strip('"').split("|")
    assert {"HighErrorRate", "HighLatencyP99", "ModelNotServing"} <= set(silenced)
    assert {name for name, _ in ALERTS} >= set(silenced)  # names that exist


def test_the_retrain_webhook_needs_its_token_file() -> None:
    without_token = {**EVERYTHING, "MLOPS_ALERT_RETRAIN_TOKEN_FILE": ""}
    receivers = {r["name"]: r for r in yaml.safe_load(render(TEMPLATE, without_token))["receivers"]}
    assert receivers["retrain"] == {"name": "retrain"}  # no unauthenticated call to the monitor
    receivers = {r["name"]: r for r in yaml.safe_load(render(TEMPLATE, EVERYTHING))["receivers"]}
    (hook,) = receivers["retrain"]["webhook_configs"]
    assert hook["url"] == "http://monitor:9100/alerts"
    assert hook["http_config"]["authorization"]["credentials_file"] == (
        "/run/secrets/retrain-webhook-token"
    )
    assert hook["send_resolved"] is False
    assert receivers["webhook"]["webhook_configs"][0]["url"] == "http://alert-sink:9095/alerts"
