"""Start and supervise server processes: the API under gunicorn, and the whole local stack."""

from __future__ import annotations

import contextlib
import os
import shutil
import signal
import subprocess
import sys
import tempfile
from collections.abc import Sequence
from pathlib import Path

from mlops_pipeline.config import Settings, settings_to_env


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
        "mlops_pipeline.api.wsgi:app",
    ]


def fresh_metrics_dir(settings: Settings) -> Path:
    """An empty multiprocess folder: stale files from an earlier run would inflate totals."""
    if settings.metrics_dir is None:
        return Path(tempfile.mkdtemp(prefix="mlops-metrics-"))
    shutil.rmtree(settings.metrics_dir, ignore_errors=True)
    settings.metrics_dir.mkdir(parents=True)
    return settings.metrics_dir


def api_process(settings: Settings, metrics_dir: Path) -> subprocess.Popen[bytes]:
    env = {**os.environ, **settings_to_env(settings), "PROMETHEUS_MULTIPROC_DIR": str(metrics_dir)}
    return subprocess.Popen(gunicorn_command(settings), env=env)


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
