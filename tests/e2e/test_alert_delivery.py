"""Alerts that reach a person: real Prometheus -> real Alertmanager -> a webhook.

Drifted traffic makes `DriftDetected` arrive at a small HTTP sink with its labels and filled-in
annotations (score, the features that moved, a link to GET /drift); drift-free traffic resolves
it. Alertmanager runs with the repository's config, rendered as `mlops alerting config` does,
with only its waiting times shortened.
"""

from __future__ import annotations

import contextlib
import http.server
import json
import subprocess
import threading
import time
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import numpy as np
import pytest
import requests

from mlops_pipeline.cli.alerting import render
from mlops_pipeline.cli.launcher import prometheus_config
from mlops_pipeline.training.data import Dataset
from mlops_pipeline.training.synthetic import ClassConditionalGaussian
from tests.e2e.test_prometheus import DEPLOY, start_prometheus, wait_for
from tests.support.helpers import require_tool
from tests.support.servers import free_port, running_api, running_monitor, stop

pytestmark = pytest.mark.e2e

ROOT = Path(__file__).resolve().parents[2]
RETRAIN_TOKEN = "retrain-webhook-token-0123456789"


class Sink(http.server.ThreadingHTTPServer):
    """Collects the JSON bodies Alertmanager posts."""

    daemon_threads = True

    def __init__(self) -> None:
        super().__init__(("127.0.0.1", 0), Receive)
        self.notifications: list[dict[str, Any]] = []
        threading.Thread(target=self.serve_forever, daemon=True).start()

    @property
    def url(self) -> str:
        return f"http://127.0.0.1:{self.server_address[1]}/alerts"

    def alerts(self, name: str, status: str) -> list[dict[str, Any]]:
        return [
            alert
            for notification in list(self.notifications)
            for alert in notification["alerts"]
            if alert["labels"]["alertname"] == name and alert["status"] == status
        ]


class Receive(http.server.BaseHTTPRequestHandler):
    server: Sink

    def do_POST(self) -> None:
        body = self.rfile.read(int(self.headers.get("Content-Length") or 0))
        self.server.notifications.append(json.loads(body))
        self.send_response(200)
        self.end_headers()

    def log_message(self, format: str, *args: object) -> None:
        pass


@contextlib.contextmanager
def running_alertmanager(folder: Path, settings: dict[str, str]) -> Iterator[str]:
    """The repository's config rendered from ``settings``, with its waits shortened."""
    binary = require_tool("prometheus-alertmanager")  # the Debian name of alertmanager
    template = (ROOT / "deploy" / "alertmanager" / "alertmanager.yml").read_text()
    config = render(template, settings)
    for slow, fast in (
        ("group_wait: 30s", "group_wait: 1s"),
        ("group_interval: 5m", "group_interval: 1s"),
    ):
        assert slow in config
        config = config.replace(slow, fast)
    (folder / "alertmanager.yml").write_text(config)
    port = free_port()
    process = subprocess.Popen(
        [
            binary,
            f"--config.file={folder / 'alertmanager.yml'}",
            f"--storage.path={folder / 'alertmanager-data'}",
            f"--web.listen-address=127.0.0.1:{port}",
            "--cluster.listen-address=",  # no gossip port: one instance
        ],
        stdout=subprocess.DEVNULL,
        stderr=subprocess.DEVNULL,
        start_new_session=True,
    )
    url = f"http://127.0.0.1:{port}"
    try:
        wait_for(lambda: _ready(url), 20, "Alertmanager")
        yield url
    finally:
        stop(process)


@pytest.fixture
def sink() -> Iterator[Sink]:
    server = Sink()
    yield server
    server.shutdown()


def _ready(url: str) -> bool:
    try:
        return requests.get(url + "/-/ready", timeout=1).status_code == 200
    except requests.RequestException:
        return False


def reported_after(api: str, sent: float) -> bool:
    """Whether GET /drift serves a report the monitor computed after ``sent`` (every row in)."""
    report = requests.get(api + "/drift", timeout=5).json()
    return bool(report["source"] == "monitor" and report["computed_at"] > sent)


def test_drift_reaches_the_webhook_and_resolves(
    artifacts_dir: Path, iris: Dataset, tmp_path: Path, sink: Sink
) -> None:
    """And the monitor's retrain webhook: Alertmanager presents the token from its file, the
    monitor queues a retrain (refused here: no labels), audited as triggered by the alert."""
    token_file = tmp_path / "retrain-token"
    token_file.write_text(RETRAIN_TOKEN)
    generator = ClassConditionalGaussian.fit(iris.features, iris.labels)
    clean, _ = generator.sample(150, np.random.default_rng(0))
    drifted, _ = generator.sample(120, np.random.default_rng(1))
    drifted[:, 2] *= 10  # petal length sent in millimetres
    env = {
        "MLOPS_DRIFT_INTERVAL_SECONDS": "0.5",
        "MLOPS_ACCESS_LOG": "false",
        "MLOPS_RETRAIN_ON_DRIFT": "register",
        "MLOPS_RETRAIN_WEBHOOK_TOKEN": RETRAIN_TOKEN,
    }
    with (
        running_api(artifacts_dir, tmp_path / "log.db", extra_env=env) as api,
        running_monitor(artifacts_dir, tmp_path / "log.db", extra_env=env) as monitor,
        running_alertmanager(
            tmp_path,
            {
                "MLOPS_ALERT_WEBHOOK_URL": sink.url,
                "MLOPS_ALERT_RETRAIN_URL": monitor + "/alerts",
                "MLOPS_ALERT_RETRAIN_TOKEN_FILE": str(token_file),
            },
        ) as alertmanager_url,
    ):
        with requests.Session() as http_session:
            for row in [*clean, *drifted]:
                http_session.post(api + "/predict", json={"features": row.tolist()}, timeout=5)
        # The monitor recomputes drift while the rows arrive, and the alert's annotations are
        # filled when it first fires (Prometheus re-sends them only a minute later): a Prometheus
        # already scraping could fire it on a partly drifted window (score 0.57, petal_length not
        # yet below 0.01). So Prometheus starts once the monitor's report holds every row.
        sent = time.time()
        wait_for(lambda: reported_after(api, sent), 30, "the monitor's report of every row")
        config = prometheus_config(
            DEPLOY,
            tmp_path / "prometheus",
            api.removeprefix("http://"),
            scrape_interval="1s",
            alert_for="0s",
            monitor_target=monitor.removeprefix("http://"),
            alertmanager_target=alertmanager_url.removeprefix("http://"),
        )
        prometheus, _ = start_prometheus(config, tmp_path / "prometheus" / "data")
        try:
            started = time.monotonic()
            wait_for(
                lambda: sink.alerts("DriftDetected", "firing"), 45, "DriftDetected at the sink"
            )
            (alert, *_) = sink.alerts("DriftDetected", "firing")
            assert alert["labels"]["severity"] == "warning"
            assert alert["labels"]["api_url"] == api
            summary = alert["annotations"]["summary"]
            assert "drift score 1.00" in summary
            assert "petal_length" in summary
            assert alert["annotations"]["drift_report"] == api + "/drift"
            assert (
                requests.get(alert["annotations"]["drift_report"], timeout=5).json()["status"]
                == "drift"
            )
            delivered_in = time.monotonic() - started
            wait_for(
                lambda: requests.get(api + "/retrains", timeout=5).json()["retrains"],
                20,
                "the retrain the alert asked the monitor for",
            )
            runs = requests.get(api + "/retrains", timeout=5).json()["retrains"]
            assert len(runs) == 1
            assert (runs[0]["trigger"], runs[0]["actor"]) == ("drift-alert", None)

            with requests.Session() as http_session:
                for row in generator.sample(150, np.random.default_rng(2))[0]:
                    http_session.post(api + "/predict", json={"features": row.tolist()}, timeout=5)
            wait_for(
                lambda: sink.alerts("DriftDetected", "resolved"), 60, "the resolved notification"
            )
        finally:
            stop(prometheus)
    assert delivered_in < 45
