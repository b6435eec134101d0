"""The deployment as several hosts on this machine: three API replicas and three monitors, each
pair in its own network namespace, behind haproxy, on one real PostgreSQL, scraped by a real
Prometheus. Skipped only where it cannot run (not root, no `ip`, PostgreSQL, haproxy or
Prometheus).
"""

from __future__ import annotations

import concurrent.futures
import contextlib
import json
import os
import shutil
import signal
import subprocess
import sys
import tempfile
import threading
import time
from collections.abc import Iterator
from dataclasses import dataclass, field
from pathlib import Path

import psycopg
import pytest
import requests

from netns import Host, namespace_hosts
from netns import unavailable_reason as netns_unavailable
from postgres import running_postgres
from postgres import unavailable_reason as postgres_unavailable

from helpers import ADMIN, SETOSA_ROW
from servers import TOKENS_ENV, free_port, wait_until_ready

pytestmark = pytest.mark.e2e

REPLICAS = 3
SYNC_SECONDS = 0.5
MONITOR_INTERVAL = 1.0
API_PORT, MONITOR_PORT = 8000, 9100  # inside each host's namespace: no collision possible


def skip_reason() -> str | None:
    for reason in (netns_unavailable(), postgres_unavailable()):
        if reason is not None:
            return reason
    for binary in ("haproxy", "prometheus"):
        if shutil.which(binary) is None:
            return f"`{binary}` not installed"
    return None


@dataclass
class Cluster:
    hosts: list[Host]
    database: str  # URL on loopback, for the test's own queries
    proxy: str
    prometheus: str
    replicas: dict[str, subprocess.Popen[bytes]] = field(default_factory=dict)
    monitors: dict[str, subprocess.Popen[bytes]] = field(default_factory=dict)

    def replica_url(self, host: Host) -> str:
        return f"http://{host.address}:{API_PORT}"

    def monitor_url(self, host: Host) -> str:
        return f"http://{host.address}:{MONITOR_PORT}"

    def rows(self, request_ids: list[str]) -> dict[str, int]:
        with psycopg.connect(self.database) as connection:
            found = connection.execute(
                "SELECT request_id, COUNT(*) FROM predictions WHERE request_id = ANY(%s)"
                " GROUP BY request_id",
                (request_ids,),
            ).fetchall()
        return {request_id: count for request_id, count in found}

    def predicted_rows(self) -> int:
        with psycopg.connect(self.database) as connection:
            row = connection.execute("SELECT COALESCE(SUM(n_rows), 0) FROM predictions").fetchone()
        assert row is not None
        return int(row[0])


def haproxy_config(port: int, hosts: list[Host]) -> str:
    servers = "\n".join(
        f"    server {host.name} {host.address}:{API_PORT} check inter 300 fall 2 rise 1"
        for host in hosts
    )
    return f"""global
    maxconn 512
defaults
    mode http
    timeout connect 1s
    timeout client 10s
    timeout server 10s
    # A refused connection never reached a replica, so retrying it elsewhere is safe; a request
    # that reached one is never retried (it may have been logged).
    retries 2
    retry-on conn-failure
    option redispatch
frontend api
    bind 127.0.0.1:{port}
    default_backend replicas
backend replicas
    balance roundrobin
    option httpchk GET /ready
{servers}
"""


def prometheus_config(folder: Path, hosts: list[Host]) -> Path:
    targets = {
        "api": [f"{host.address}:{API_PORT}" for host in hosts],
        "monitor": [f"{host.address}:{MONITOR_PORT}" for host in hosts],
    }
    for name, addresses in targets.items():
        (folder / f"{name}.json").write_text(json.dumps([{"targets": addresses}]))
    config = folder / "prometheus.yml"
    config.write_text(
        "global:\n  scrape_interval: 1s\n  evaluation_interval: 1s\nscrape_configs:\n"
        f"  - job_name: mlops-api\n    file_sd_configs: [{{files: ['{folder}/api.json']}}]\n"
        "  - job_name: mlops-monitor\n"
        f"    file_sd_configs: [{{files: ['{folder}/monitor.json']}}]\n"
    )
    return config


def start(host: Host, argv: list[str], env: dict[str, str], log: Path) -> subprocess.Popen[bytes]:
    with open(log, "ab") as out:
        return host.popen(
            argv, env=env, stdout=out, stderr=subprocess.STDOUT, start_new_session=True
        )


def kill_group(process: subprocess.Popen[bytes]) -> None:
    with contextlib.suppress(ProcessLookupError):
        os.killpg(process.pid, signal.SIGKILL)
    process.wait()


@pytest.fixture(scope="module")
def cluster(artifacts_dir: Path) -> Iterator[Cluster]:
    reason = skip_reason()
    if reason is not None:
        pytest.skip(reason)
    work = Path(tempfile.mkdtemp(prefix="mlops-multihost-"))
    processes: list[subprocess.Popen[bytes]] = []
    with namespace_hosts(REPLICAS) as hosts:
        listen = ",".join(["127.0.0.1", *(host.gateway for host in hosts)])
        with running_postgres(listen=listen, clients="10.213.0.0/16") as database:
            base_env = {
                **os.environ,
                **TOKENS_ENV,
                "MLOPS_DATABASE_URL": database,
                "MLOPS_ARTIFACTS_DIR": str(artifacts_dir),
                "MLOPS_WEIGHTS_SYNC_SECONDS": str(SYNC_SECONDS),
                "MLOPS_DRIFT_INTERVAL_SECONDS": str(MONITOR_INTERVAL),
                "MLOPS_ACCESS_LOG": "false",
            }
            subprocess.run(
                [sys.executable, "-m", "mlops_pipeline.cli", "db", "upgrade"],
                env=base_env,
                check=True,
                stdout=subprocess.DEVNULL,
            )
            replicas, monitors = {}, {}
            for host in hosts:
                port = database.rsplit(":", 1)[1]  # "PORT/mlops"
                env = {
                    **base_env,
                    "MLOPS_DATABASE_URL": f"postgresql://postgres@{host.gateway}:{port}",
                    "MLOPS_METRICS_DIR": str(work / f"metrics-{host.name}"),
                }
                cli = [sys.executable, "-m", "mlops_pipeline.cli"]
                replicas[host.name] = start(
                    host,
                    [
                        *cli,
                        "serve",
                        "--host",
                        host.address,
                        "--port",
                        str(API_PORT),
                        "--workers",
                        "1",
                    ],
                    env,
                    work / f"api-{host.name}.log",
                )
                monitors[host.name] = start(
                    host,
                    [*cli, "monitor", "--host", host.address, "--port", str(MONITOR_PORT)],
                    env,
                    work / f"monitor-{host.name}.log",
                )
            processes += [*replicas.values(), *monitors.values()]
            try:
                for host in hosts:
                    wait_until_ready(f"http://{host.address}:{API_PORT}/ready", timeout=60)
                    wait_until_ready(f"http://{host.address}:{MONITOR_PORT}/health", timeout=60)
                proxy_port = free_port()
                (work / "haproxy.cfg").write_text(haproxy_config(proxy_port, hosts))
                haproxy = subprocess.Popen(
                    ["haproxy", "-db", "-f", str(work / "haproxy.cfg")],
                    stdout=subprocess.DEVNULL,
                    stderr=subprocess.DEVNULL,
                )
                processes.append(haproxy)
                prometheus_port = free_port()
                prometheus = subprocess.Popen(
                    [
                        "prometheus",
                        f"--config.file={prometheus_config(work, hosts)}",
                        f"--storage.tsdb.path={work / 'tsdb'}",
                        f"--web.listen-address=127.0.0.1:{prometheus_port}",
                    ],
                    stdout=subprocess.DEVNULL,
                    stderr=subprocess.DEVNULL,
                )
                processes.append(prometheus)
                proxy = f"http://127.0.0.1:{proxy_port}"
                wait_until_ready(proxy + "/ready", timeout=20)
                prometheus_url = f"http://127.0.0.1:{prometheus_port}"
                wait_until_ready(prometheus_url + "/-/ready", timeout=20)
                yield Cluster(hosts, database, proxy, prometheus_url, replicas, monitors)
            finally:
                for process in reversed(processes):
                    if process.poll() is None:
                        process.send_signal(signal.SIGTERM)
                for process in processes:
                    try:
                        process.wait(timeout=20)
                    except subprocess.TimeoutExpired:
                        kill_group(process)
                shutil.rmtree(work, ignore_errors=True)


def predict(http: requests.Session, url: str, **extra: object) -> requests.Response:
    return http.post(url + "/predict", json={"features": SETOSA_ROW, **extra}, timeout=10)


def test_every_answer_through_the_proxy_has_exactly_one_row(cluster: Cluster) -> None:
    with requests.Session() as http:
        answers = [predict(http, cluster.proxy) for _ in range(300)]
    assert all(answer.status_code == 200 for answer in answers)
    ids = [answer.json()["request_id"] for answer in answers]
    assert cluster.rows(ids) == dict.fromkeys(ids, 1)
    for host in cluster.hosts:  # round robin reached every replica
        metrics = requests.get(cluster.replica_url(host) + "/metrics", timeout=5).text
        assert 'mlops_requests_total{endpoint="/predict",method="POST",status="200"}' in metrics


def test_a_weight_change_on_one_replica_reaches_all_within_the_sync_interval(
    cluster: Cluster,
) -> None:
    first = cluster.replica_url(cluster.hosts[0])
    changed = requests.put(
        first + "/config/weights", json={"v1": 0.0, "v2": 1.0}, headers=ADMIN, timeout=5
    )
    assert changed.status_code == 200
    started = time.monotonic()
    time.sleep(SYNC_SECONDS * 2)
    with requests.Session() as http:
        for host in cluster.hosts:
            versions = {
                predict(http, cluster.replica_url(host)).json()["model_version"] for _ in range(20)
            }
            assert versions == {"v2"}, host.name
    assert time.monotonic() - started < SYNC_SECONDS * 2 + 5
    back = requests.put(
        first + "/config/weights", json={"v1": 0.5, "v2": 0.5}, headers=ADMIN, timeout=5
    )
    assert back.status_code == 200
    time.sleep(SYNC_SECONDS * 2)


def test_a_sticky_user_gets_the_same_version_from_every_replica(cluster: Cluster) -> None:
    with requests.Session() as http:
        for user in ("alice", "bob", "carol", "dave"):
            versions = {
                predict(http, cluster.replica_url(host), user_id=user).json()["model_version"]
                for host in cluster.hosts
                for _ in range(3)
            }
            assert len(versions) == 1, (user, versions)


def test_drift_is_one_report_over_all_replicas_rows(cluster: Cluster) -> None:
    time.sleep(MONITOR_INTERVAL * 2.5)  # the leader recomputes after the traffic above
    reports = [
        requests.get(cluster.replica_url(host) + "/drift", timeout=5).json()
        for host in cluster.hosts
    ]
    assert all(report == reports[0] for report in reports)
    assert reports[0]["source"] == "monitor"
    assert reports[0]["window_size"] == 100  # far more rows than any single replica answered


def test_prometheus_sums_predictions_over_replicas_to_the_log(cluster: Cluster) -> None:
    expected = cluster.predicted_rows()
    deadline = time.monotonic() + 15
    while True:
        body = requests.get(
            cluster.prometheus + "/api/v1/query",
            params={"query": 'sum(mlops_predictions_total{job="mlops-api"})'},
            timeout=5,
        ).json()
        result = body["data"]["result"]
        if result and float(result[0]["value"][1]) == expected:
            break
        assert time.monotonic() < deadline, f"Prometheus saw {result}, the log has {expected}"
        time.sleep(0.5)
    deadline = time.monotonic() + 10
    while True:  # every replica and every monitor is scraped
        up = requests.get(
            cluster.prometheus + "/api/v1/query", params={"query": "up"}, timeout=5
        ).json()["data"]["result"]
        down = [item["metric"]["instance"] for item in up if item["value"][1] != "1"]
        if len(up) == 2 * REPLICAS and not down:
            break
        assert time.monotonic() < deadline, f"targets {len(up)}, down {down}"
        time.sleep(0.5)


def test_killing_a_replica_under_load_loses_no_answered_prediction(cluster: Cluster) -> None:
    stop_at = time.monotonic() + 8
    victim = cluster.hosts[-1]
    answered: list[str] = []
    failures: list[str] = []
    lock = threading.Lock()

    def load() -> None:
        with requests.Session() as http:
            while time.monotonic() < stop_at:
                try:
                    response = predict(http, cluster.proxy)
                except requests.RequestException as exc:
                    with lock:
                        failures.append(type(exc).__name__)
                    continue
                with lock:
                    if response.status_code == 200:
                        answered.append(response.json()["request_id"])
                    else:
                        failures.append(str(response.status_code))

    with concurrent.futures.ThreadPoolExecutor(8) as pool:
        futures = [pool.submit(load) for _ in range(8)]
        time.sleep(3)
        kill_group(cluster.replicas[victim.name])
        for future in futures:
            future.result()
    total = len(answered) + len(failures)
    assert total > 200
    assert len(failures) <= 0.01 * total, f"{len(failures)} of {total} failed: {failures[:5]}"
    assert cluster.rows(answered) == dict.fromkeys(answered, 1)


def test_killing_the_leading_monitor_hands_over_within_two_intervals(cluster: Cluster) -> None:
    def leaders() -> list[str]:
        found = []
        for host in cluster.hosts:
            if cluster.monitors[host.name].poll() is not None:
                continue
            health = requests.get(cluster.monitor_url(host) + "/health", timeout=5).json()
            if health["leader"]:
                found.append(host.name)
        return found

    (leader,) = leaders()
    kill_group(cluster.monitors[leader])
    killed_at = time.monotonic()
    while True:
        current = leaders()
        if current:
            break
        assert time.monotonic() - killed_at < 2 * MONITOR_INTERVAL + 1, "no standby took over"
        time.sleep(0.1)
    assert len(current) == 1
    assert current[0] != leader
