"""Helpers to run real servers on free ports (used by end-to-end tests and benchmarks)."""

from __future__ import annotations

import contextlib
import os
import signal
import socket
import subprocess
import sys
import threading
import time
from collections.abc import Callable, Iterator, Mapping
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import requests

from tests.support.helpers import ADMIN_TOKEN, FEEDBACK_TOKEN

TOKENS_ENV = {
    "MLOPS_ADMIN_TOKEN": ADMIN_TOKEN,
    "MLOPS_FEEDBACK_TOKEN": FEEDBACK_TOKEN,
    # The tests play a whole population from one address, so drift follows that one client here;
    # the default bound on a client's share is tested in test_anonymous_traffic.py.
    "MLOPS_DRIFT_MAX_CLIENT_SHARE": "1",
}


def free_port() -> int:
    """A port the kernel just handed out; bind 0, read it, release it."""
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


def wait_until_ready(
    url: str,
    timeout: float = 30.0,
    method: str = "GET",
    process: subprocess.Popen[bytes] | None = None,
) -> None:
    """Poll ``url``; give up at once if ``process`` (the server) has exited."""
    deadline = time.monotonic() + timeout
    last_error: Exception | None = None
    while time.monotonic() < deadline:
        if process is not None and process.poll() is not None:
            raise ServerExited(f"the server exited with status {process.returncode}")
        try:
            response = requests.request(method, url, timeout=2, json={})
            if response.status_code < 500:
                return
        except requests.RequestException as exc:
            last_error = exc
        time.sleep(0.1)
    raise TimeoutError(f"{url} not ready after {timeout}s: {last_error}")


class ServerExited(RuntimeError):
    """The server process ended before it answered (a refused configuration, usually)."""


@contextlib.contextmanager
def running_api(
    artifacts: Path,
    db_path: Path,
    workers: int = 2,
    extra_env: Mapping[str, str] | None = None,
    log_path: Path | None = None,
) -> Iterator[str]:
    """`mlops serve` on a free port; yields its base URL and stops it afterwards.

    The database is brought to the current schema first (`mlops db upgrade`), as a deploy does.
    """
    upgrade_env = {**os.environ, **(extra_env or {})}
    subprocess.run(
        [sys.executable, "-m", "mlops_pipeline.cli", "db", "upgrade", "--db", str(db_path)],
        env=upgrade_env,
        check=True,
        stdout=subprocess.DEVNULL,
    )
    for _ in range(3):  # another program may grab the port between free_port() and bind
        port = free_port()
        # Both roles on unless a test says otherwise (an empty value switches one off).
        # No gRPC service unless a test asks for one (MLOPS_GRPC_PORT): its default port is fixed.
        env = {**os.environ, **TOKENS_ENV, "MLOPS_GRPC_PORT": "0", **(extra_env or {})}
        log = open(log_path or os.devnull, "ab")  # noqa: SIM115 - closed below
        process = subprocess.Popen(
            [
                sys.executable,
                "-m",
                "mlops_pipeline.cli",
                "serve",
                "--artifacts",
                str(artifacts),
                "--db",
                str(db_path),
                "--port",
                str(port),
                "--workers",
                str(workers),
            ],
            env=env,
            stdout=log,
            stderr=subprocess.STDOUT,
            start_new_session=True,
        )
        url = f"http://127.0.0.1:{port}"
        try:
            wait_until_ready(url + "/ready", timeout=30, process=process)
        except ServerExited:
            log.close()
            tail = log_path.read_text()[-2000:] if log_path is not None else "(no log kept)"
            raise ServerExited(f"`mlops serve` exited at start:\n{tail}") from None
        except TimeoutError:
            stop(process)
            log.close()
            continue
        try:
            yield url
        finally:
            stop(process)
            log.close()
        return
    raise RuntimeError("could not start the API on a free port")


def stop(process: subprocess.Popen[bytes], timeout: float = 20.0) -> None:
    if process.poll() is None:
        process.send_signal(signal.SIGTERM)
        try:
            process.wait(timeout=timeout)
        except subprocess.TimeoutExpired:
            os.killpg(process.pid, signal.SIGKILL)
            process.wait()


@contextlib.contextmanager
def running_monitor(
    artifacts: Path,
    db_path: Path,
    extra_env: Mapping[str, str] | None = None,
    log_path: Path | None = None,
) -> Iterator[str]:
    """`mlops monitor` on a free port; yields the base URL of its /metrics and /health."""
    port = free_port()
    env = {**os.environ, **TOKENS_ENV, **(extra_env or {})}
    log = open(log_path or os.devnull, "ab")  # noqa: SIM115 - closed below
    command = [
        sys.executable, "-m", "mlops_pipeline.cli", "monitor", "--artifacts", str(artifacts),
        "--db", str(db_path), "--port", str(port),
    ]  # fmt: skip
    process = subprocess.Popen(
        command, env=env, stdout=log, stderr=subprocess.STDOUT, start_new_session=True
    )
    url = f"http://127.0.0.1:{port}"
    try:
        wait_until_ready(url + "/health", timeout=30)
        yield url
    finally:
        stop(process)
        log.close()


def trickle(host: str, port: int, connections: int, seconds: int, stop: threading.Event) -> None:
    """Slow clients: ``connections`` sockets each sending a request's headers one byte a second
    for ``seconds`` (or until ``stop``), never finishing them."""
    sockets = [socket.create_connection((host, port), timeout=5) for _ in range(connections)]
    message = b"POST /predict HTTP/1.1\r\nHost: x\r\nX-Slow: " + b"a" * (seconds + 8)
    try:
        for index in range(seconds):
            if stop.is_set():
                break
            for sock in sockets:
                with contextlib.suppress(OSError):
                    sock.send(message[index : index + 1])
            time.sleep(1)
    finally:
        for sock in sockets:
            sock.close()


def run_cli(*args: str, env: dict[str, str] | None = None) -> str:
    """`mlops ARGS` in a subprocess with ``env`` added; its output, or a failed assertion."""
    done = subprocess.run(
        [sys.executable, "-m", "mlops_pipeline.cli", *args],
        env={**os.environ, **(env or {})},
        capture_output=True,
        text=True,
        check=False,
    )
    assert done.returncode == 0, done.stdout + done.stderr
    return done.stdout


@dataclass
class Stack:
    url: str  # the API
    monitor: str  # the monitor's /metrics, /health and /alerts
    env: dict[str, str]  # what both got, for `mlops` commands against the same stack
    folder: Path


@contextlib.contextmanager
def running_stack(artifacts: Path, folder: Path, env: Mapping[str, str]) -> Iterator[Stack]:
    """`mlops serve` + `mlops monitor` on one SQLite file in ``folder``, both given ``env``;
    their logs in ``folder`` (api.log, monitor.log)."""
    db = folder / "log.db"
    full = {**env, "MLOPS_ARTIFACTS_DIR": str(artifacts), "MLOPS_DB_PATH": str(db)}
    with (
        running_api(artifacts, db, extra_env=full, log_path=folder / "api.log") as url,
        running_monitor(artifacts, db, extra_env=full, log_path=folder / "monitor.log") as monitor,
    ):
        yield Stack(url, monitor, full, folder)


def everywhere(url: str, path: str, holds: Callable[[Any], bool], what: str, timeout: float) -> Any:
    """GET ``url + path`` once ten answers in a row satisfy ``holds``; that last answer. Each
    worker behind one URL syncs the store (models, the split) on a thread of its own, so one
    answer may come from a worker that has not yet, and a loaded machine may run it late."""
    deadline, seen = time.monotonic() + timeout, 0
    while True:
        answer = requests.get(url + path, timeout=5).json()
        seen = seen + 1 if holds(answer) else 0
        if seen == 10:
            return answer
        assert time.monotonic() < deadline, f"{what} not everywhere within {timeout:g} s"
        time.sleep(0.02 if seen else 0.1)


def served_everywhere(url: str, versions: set[str], timeout: float = 10) -> dict[str, Any]:
    """GET /models once every worker serves ``versions``."""
    models = everywhere(
        url, "/models", lambda models: versions <= set(models), str(versions), timeout
    )
    return dict(models)


def split_everywhere(
    url: str, adopted: Callable[[dict[str, float]], bool], timeout: float = 30
) -> dict[str, float]:
    """The split once every worker has adopted one that satisfies ``adopted``."""
    config = everywhere(url, "/config", lambda c: adopted(c["weights"]), "the split", timeout)
    return dict(config["weights"])
