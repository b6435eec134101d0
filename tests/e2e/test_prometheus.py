"""The Prometheus config and alert rules, checked by promtool and by a real Prometheus server."""

from __future__ import annotations

import re
import subprocess
import time
from pathlib import Path
from typing import Any

import numpy as np
import pytest
import requests

from mlops_pipeline.cli.launcher import prometheus_config
from mlops_pipeline.training.data import Dataset
from mlops_pipeline.training.synthetic import ClassConditionalGaussian
from tests.support.helpers import require_tool
from tests.support.servers import free_port, running_api, running_monitor, stop

ROOT = Path(__file__).resolve().parents[2]
DEPLOY = ROOT / "deploy" / "prometheus"


def promtool(*args: str) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [require_tool("promtool"), *args], capture_output=True, text=True, check=False
    )


def test_promtool_accepts_the_config() -> None:
    result = promtool("check", "config", str(DEPLOY / "prometheus.yml"))
    assert result.returncode == 0, result.stdout + result.stderr


def test_promtool_accepts_the_rules() -> None:
    result = promtool("check", "rules", str(DEPLOY / "alerts.yml"))
    assert result.returncode == 0, result.stdout + result.stderr
    assert "SUCCESS: 10 rules found" in result.stdout


def test_every_alert_has_a_firing_and_a_quiet_unit_test() -> None:
    result = promtool("test", "rules", str(ROOT / "tests" / "prometheus" / "alerts_test.yml"))
    assert result.returncode == 0, result.stdout + result.stderr
    tests = (ROOT / "tests" / "prometheus" / "alerts_test.yml").read_text()
    for alert in re.findall(r"- alert: (\w+)", (DEPLOY / "alerts.yml").read_text()):
        assert re.search(rf"alertname: {alert}\n\s+exp_alerts: \[\]", tests), alert
        assert re.search(rf"alertname: {alert}\n\s+exp_alerts:\n", tests), alert


def test_generated_local_config_is_valid(tmp_path: Path) -> None:
    config = prometheus_config(DEPLOY, tmp_path, "127.0.0.1:5999", scrape_interval="1s")
    result = promtool("check", "config", str(config))
    assert result.returncode == 0, result.stdout + result.stderr
    text = config.read_text()
    assert "127.0.0.1:5999" in text
    assert "api:5000" not in text


def start_prometheus(config: Path, data: Path) -> tuple[subprocess.Popen[bytes], str]:
    server = require_tool("prometheus")
    for _ in range(3):
        port = free_port()
        process = subprocess.Popen(
            [
                server,
                f"--config.file={config}",
                f"--storage.tsdb.path={data}",
                f"--web.listen-address=127.0.0.1:{port}",
            ],
            stdout=subprocess.DEVNULL,
            stderr=subprocess.DEVNULL,
            start_new_session=True,
        )
        url = f"http://127.0.0.1:{port}"
        deadline = time.monotonic() + 20
        while time.monotonic() < deadline and process.poll() is None:
            try:
                if requests.get(url + "/-/ready", timeout=1).status_code == 200:
                    return process, url
            except requests.RequestException:
                pass
            time.sleep(0.1)
        stop(process)
    raise RuntimeError("prometheus did not start")


def query(url: str, promql: str) -> list[dict[str, Any]]:
    body = requests.get(url + "/api/v1/query", params={"query": promql}, timeout=5).json()
    assert body["status"] == "success", body
    return list(body["data"]["result"])


def wait_for(condition: Any, timeout: float, what: str) -> None:
    deadline = time.monotonic() + timeout
    while not condition():
        assert time.monotonic() < deadline, f"timed out waiting for {what}"
        time.sleep(0.25)


def value(url: str, promql: str) -> float | None:
    result = query(url, promql)
    return float(result[0]["value"][1]) if result else None


def petal_length_pvalue(url: str) -> float:
    pvalues = {
        item["metric"]["feature"]: float(item["value"][1])
        for item in query(url, "max by (feature) (mlops_feature_drift_pvalue)")
    }
    return pvalues["petal_length"]


def firing(url: str) -> set[str]:
    alerts = requests.get(url + "/api/v1/alerts", timeout=5).json()["data"]["alerts"]
    return {alert["labels"]["alertname"] for alert in alerts if alert["state"] == "firing"}


@pytest.mark.e2e
def test_real_prometheus_sees_drift_and_fires_the_alert(
    artifacts_dir: Path, iris: Dataset, tmp_path: Path
) -> None:
    folder = tmp_path / "prometheus"
    generator = ClassConditionalGaussian.fit(iris.features, iris.labels)
    clean, _ = generator.sample(150, np.random.default_rng(0))
    drifted, _ = generator.sample(120, np.random.default_rng(1))
    drifted[:, 2] *= 10  # petal length sent in millimetres

    env = {"MLOPS_DRIFT_INTERVAL_SECONDS": "0.5"}
    with (
        running_api(artifacts_dir, tmp_path / "log.db", workers=2, extra_env=env) as api,
        running_monitor(artifacts_dir, tmp_path / "log.db", extra_env=env) as monitor,
    ):
        target = api.removeprefix("http://")
        # Same rules, but alerts fire without waiting out their `for:` durations.
        config = prometheus_config(
            DEPLOY,
            folder,
            target,
            scrape_interval="1s",
            alert_for="0s",
            monitor_target=monitor.removeprefix("http://"),
        )
        process, url = start_prometheus(config, folder / "data")
        try:
            with requests.Session() as http:
                for row in clean:
                    http.post(api + "/predict", json={"features": row.tolist()}, timeout=5)
            wait_for(lambda: value(url, "max(mlops_drift_window_size)") == 100, 30, "a full window")
            wait_for(lambda: value(url, 'up{job="mlops-api"}') == 1, 10, "a scrape")
            wait_for(lambda: value(url, 'up{job="mlops-monitor"}') == 1, 10, "a monitor scrape")
            assert value(url, "max(mlops_monitor_leader)") == 1
            drift = requests.get(api + "/drift", timeout=5).json()
            assert drift["source"] == "monitor"  # every replica serves the leader's report
            assert value(url, "max(mlops_drift_detected)") == 0
            assert "DriftDetected" not in firing(url)

            with requests.Session() as http:
                for row in drifted:
                    http.post(api + "/predict", json={"features": row.tolist()}, timeout=5)
            wait_for(
                lambda: value(url, "max(mlops_drift_detected)") == 1, 30, "drift in Prometheus"
            )
            # Drift is flagged as soon as part of the window has drifted; the monitor and the
            # scrapes run while the rows arrive, so wait for the window that holds only drifted
            # rows (a snapshot read at the first flag once gave 1.6e-5 on a loaded CI machine).
            wait_for(lambda: petal_length_pvalue(url) < 1e-6, 30, "the whole window drifted")
            assert value(url, "max(mlops_drift_score)") == 1.0
            wait_for(lambda: "DriftDetected" in firing(url), 30, "the DriftDetected alert")
            assert "APIDown" not in firing(url)
        finally:
            stop(process)
