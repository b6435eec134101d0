"""Start and supervise server processes: the API under gunicorn, and the whole local stack."""

from __future__ import annotations

import contextlib
import os
import re
import shutil
import signal
import subprocess
import sys
import tempfile
from collections.abc import Sequence
from pathlib import Path
from typing import Any

from mlops_pipeline.config import Settings, settings_to_env, worker_threads

WSGI_APP = "mlops_pipeline.wsgi:app"


def server_command(settings: Settings) -> list[str]:
    if settings.server == "gunicorn":
        return gunicorn_command(settings)
    return granian_command(settings)


def granian_command(settings: Settings) -> list[str]:
    """granian: Rust HTTP/1.1 front with keep-alive; Python workers see only whole requests.

    A client trickling its headers holds a cheap Rust task, not a Python worker, so slow or
    stalled clients cannot starve the API; a worker that dies is replaced.
    """
    return [
        sys.executable,
        "-m",
        "granian",
        "--interface",
        "wsgi",
        "--host",
        settings.host,
        "--port",
        str(settings.port),
        "--workers",
        str(settings.workers),
        "--blocking-threads",
        str(worker_threads(settings)),
        # One Rust I/O thread per worker: with one Python thread behind it, a multi-threaded
        # runtime only adds hand-offs (about 10% more requests per second here).
        "--runtime-mode",
        "st",
        "--respawn-failed-workers",
        "--respawn-interval",
        "0.5",
        # A client gets 10 s for its headers, then the connection is closed.
        "--http1-header-read-timeout",
        "10000",
        "--workers-kill-timeout",
        "10",
        "--no-access-log",  # the app writes its own JSON access log
        "--log-level",
        "warning",
        WSGI_APP,
    ]


def gunicorn_command(settings: Settings) -> list[str]:
    return [
        sys.executable,
        "-m",
        "gunicorn",
        "--bind",
        f"{settings.host}:{settings.port}",
        "--workers",
        str(settings.workers),
        "--config",
        "python:mlops_pipeline.api.gunicorn_conf",
        # gunicorn 27 opens ~/.gunicorn/ control sockets by default; several servers collide.
        "--no-control-socket",
        "--timeout",
        "30",
        "--graceful-timeout",
        "10",
        WSGI_APP,
    ]


def fresh_metrics_dir(settings: Settings) -> Path:
    """An empty multiprocess folder: stale files from an earlier run would inflate totals."""
    if settings.metrics_dir is None:
        return Path(tempfile.mkdtemp(prefix="mlops-metrics-"))
    # Emptied, not removed: the folder may be a mount point (an emptyDir of its own).
    settings.metrics_dir.mkdir(parents=True, exist_ok=True)
    for entry in settings.metrics_dir.iterdir():
        if entry.is_dir() and not entry.is_symlink():
            shutil.rmtree(entry)
        else:
            entry.unlink()
    return settings.metrics_dir


def child(command: Sequence[str], **options: Any) -> subprocess.Popen[bytes]:
    """A supervised child: stopped by the supervisor, never orphaned.

    Its own session keeps a terminal's Ctrl-C (sent to the whole foreground group) away from
    it, so the supervisor stops everything in order instead of every child printing its own
    KeyboardInterrupt; the parent-death signal stops it if the supervisor is killed outright.
    """
    from mlops_pipeline.orphans import die_with_parent, resolve_prctl

    resolve_prctl()  # resolved here, before the fork: the child only calls it
    return subprocess.Popen(command, start_new_session=True, preexec_fn=die_with_parent, **options)


def monitor_process(settings: Settings) -> subprocess.Popen[bytes]:
    """`mlops monitor` beside the API: drift, the experiment report and retention."""
    command = [sys.executable, "-m", "mlops_pipeline.cli", "monitor"]
    return child(command, env={**os.environ, **settings_to_env(settings)})


def api_processes(settings: Settings, metrics_dir: Path) -> list[subprocess.Popen[bytes]]:
    """The HTTP server, and the V2 gRPC service unless its port is 0; one metrics folder."""
    env = {**os.environ, **settings_to_env(settings), "PROMETHEUS_MULTIPROC_DIR": str(metrics_dir)}
    processes = [child(server_command(settings), env=env)]
    if settings.grpc_port:
        command = [sys.executable, "-m", "mlops_pipeline.cli", "grpc"]
        processes.append(child(command, env=env))
    return processes


def prometheus_config(
    deploy_dir: Path,
    out_dir: Path,
    target: str,
    scrape_interval: str = "10s",
    monitor_target: str | None = None,
    alert_for: str | None = None,
    alertmanager_target: str | None = None,
) -> Path:
    """Write a copy of the deploy config scraping ``target``; return the config's path.

    ``alert_for`` replaces every rule's ``for:`` duration (tests use 0s so alerts fire at once).
    Without ``alertmanager_target`` the ``alerting`` section is left out (nothing to send to).
    """
    out_dir.mkdir(parents=True, exist_ok=True)
    config = (deploy_dir / "prometheus.yml").read_text()
    config = config.replace('"api:5000"', f'"{target}"')
    config = config.replace('"http://api:5000"', f'"http://{target}"')
    if monitor_target is not None:
        config = config.replace('"monitor:9100"', f'"{monitor_target}"')
    if alertmanager_target is None:
        config = ALERTING_SECTION.sub("", config)
    else:
        config = config.replace('"alertmanager:9093"', f'"{alertmanager_target}"')
    config = re.sub(
        r"(scrape_interval|evaluation_interval): \S+", rf"\1: {scrape_interval}", config
    )
    rules = (deploy_dir / "alerts.yml").read_text()
    if alert_for is not None:
        rules = re.sub(r"^(\s+)for: \S+$", rf"\1for: {alert_for}", rules, flags=re.MULTILINE)
    (out_dir / "alerts.yml").write_text(rules)
    (out_dir / "prometheus.yml").write_text(config)
    return out_dir / "prometheus.yml"


ALERTING_SECTION = re.compile(
    r"^# Every alert goes to Alertmanager[^\n]*\nalerting:\n(?: [^\n]*\n)+\n?", re.MULTILINE
)


def prometheus_process(
    settings: Settings, binary: str, alertmanager: str | None = None
) -> subprocess.Popen[bytes]:
    """Prometheus scraping the local API, with the deploy config's rules; alerts go to
    ``alertmanager`` (host:port) when one runs."""
    folder = settings.db_path.parent / "prometheus"
    host = reachable_host(settings.host)
    config = prometheus_config(
        settings.prometheus_config_dir,
        folder,
        f"{host}:{settings.port}",
        monitor_target=f"{host}:{settings.monitor_port}",
        alertmanager_target=alertmanager,
    )
    return child(
        [
            binary,
            f"--config.file={config}",
            f"--storage.tsdb.path={folder / 'data'}",
            f"--web.listen-address={settings.host}:{settings.prometheus_port}",
        ],
        stdout=subprocess.DEVNULL,
        stderr=subprocess.DEVNULL,
    )


def alertmanager_process(
    settings: Settings, binary: str, template: Path
) -> subprocess.Popen[bytes]:
    """Alertmanager with the deploy config rendered from MLOPS_ALERT_* (see `mlops alerting`)."""
    from mlops_pipeline.cli.alerting import render

    folder = settings.db_path.parent / "alertmanager"
    folder.mkdir(parents=True, exist_ok=True)
    config = folder / "alertmanager.yml"
    config.write_text(render(template.read_text(encoding="utf-8"), os.environ), encoding="utf-8")
    return child(
        [
            binary,
            f"--config.file={config}",
            f"--storage.path={folder / 'data'}",
            f"--web.listen-address={settings.host}:{settings.alertmanager_port}",
            "--cluster.listen-address=",  # one local instance: no gossip port
        ],
        stdout=subprocess.DEVNULL,
        stderr=subprocess.DEVNULL,
    )


UI_APP = Path(__file__).resolve().parents[1] / "ui" / "app.py"


def ui_process(settings: Settings) -> subprocess.Popen[bytes]:
    """Streamlit serving the UI; the pages read the API and Prometheus URLs from settings."""
    command = [
        sys.executable,
        "-m",
        "streamlit",
        "run",
        str(UI_APP),
        "--server.port",
        str(settings.ui_port),
        "--server.address",
        settings.host,
        "--server.headless",
        "true",
        "--browser.gatherUsageStats",
        "false",
    ]
    return child(command, env={**os.environ, **settings_to_env(settings)})


def reachable_host(host: str) -> str:
    """An address clients on this machine can use for a server bound to ``host``."""
    return "127.0.0.1" if host in {"0.0.0.0", "::", ""} else host


def supervise(processes: Sequence[subprocess.Popen[bytes]]) -> int:
    """Wait until one process exits or we are interrupted, then stop all of them."""
    stopping = False

    def request_stop(signum: int, _frame: object) -> None:
        nonlocal stopping
        stopping = True

    previous = {sig: signal.signal(sig, request_stop) for sig in (signal.SIGINT, signal.SIGTERM)}
    exit_code = 0
    try:
        while not stopping:
            for process in processes:
                code = process.poll()
                if code is not None:
                    exit_code, stopping = code, True
            if not stopping:
                with contextlib.suppress(subprocess.TimeoutExpired):
                    processes[0].wait(timeout=0.2)
    finally:
        stop_all(processes)
        for sig, handler in previous.items():
            signal.signal(sig, handler)
    return exit_code


def stop_all(processes: Sequence[subprocess.Popen[bytes]], timeout: float = 15.0) -> None:
    for process in processes:
        if process.poll() is None:
            process.terminate()
    for process in processes:
        try:
            process.wait(timeout=timeout)
        except subprocess.TimeoutExpired:
            process.kill()
            process.wait()
