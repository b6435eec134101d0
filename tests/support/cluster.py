"""Several API replicas and monitors as hosts in network namespaces, behind haproxy, on one real
PostgreSQL, scraped by a real Prometheus. Used by the multi-host test and the scale-out benchmark.
"""

from __future__ import annotations

import contextlib
import json
import os
import shutil
import signal
import subprocess
import sys
import tempfile
from collections.abc import Iterator
from dataclasses import dataclass, field
from pathlib import Path

import psycopg

from tests.support.netns import Host, namespace_hosts
from tests.support.netns import unavailable_reason as netns_unavailable
from tests.support.postgres import running_postgres
from tests.support.postgres import unavailable_reason as postgres_unavailable
from tests.support.servers import TOKENS_ENV, free_port, wait_until_ready

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


@contextlib.contextmanager
def running_cluster(
    artifacts_dir: Path,
    replicas_count: int,
    workers: int = 1,
    extra_env: dict[str, str] | None = None,
) -> Iterator[Cluster]:
    """``replicas_count`` hosts, each running `mlops serve` and `mlops monitor`."""
    work = Path(tempfile.mkdtemp(prefix="mlops-multihost-"))
    processes: list[subprocess.Popen[bytes]] = []
    with namespace_hosts(replicas_count) as hosts:
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
                "MLOPS_GRPC_PORT": "0",  # the REST path is what these tests measure
                **(extra_env or {}),
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
