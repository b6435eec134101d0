"""Workers die with their server: a killed `mlops serve` leaves nothing answering on its port."""

from __future__ import annotations

import os
import signal
import subprocess
import sys
import time
from pathlib import Path

import pytest
import requests

from tests.support.servers import TOKENS_ENV, free_port, stop, wait_until_ready


def children(pid: int) -> list[int]:
    try:
        text = Path(f"/proc/{pid}/task/{pid}/children").read_text()
    except OSError:
        return []
    return [int(child) for child in text.split()]


def alive(pid: int) -> bool:
    try:
        state = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()[0]
    except OSError:
        return False
    return state != "Z"  # a zombie has exited; it only waits for its parent to read it


def wait_gone(pids: list[int], timeout: float) -> list[int]:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        left = [pid for pid in pids if alive(pid)]
        if not left:
            return []
        time.sleep(0.2)
    return [pid for pid in pids if alive(pid)]


WATCHED_CHILD = """
import subprocess, sys, time
grandchild = subprocess.Popen([sys.executable, "-c", '''
import signal, time
from mlops_pipeline.orphans import die_with_parent
die_with_parent(signal.SIGKILL)
print("armed", flush=True)
time.sleep(60)
'''], stdout=subprocess.PIPE, text=True)
assert grandchild.stdout.readline() == "armed\\n"
print(grandchild.pid, flush=True)
time.sleep(60)
"""


def test_a_process_armed_with_the_parent_death_signal_dies_with_its_parent() -> None:
    parent = subprocess.Popen(
        [sys.executable, "-c", WATCHED_CHILD], stdout=subprocess.PIPE, text=True
    )
    try:
        assert parent.stdout is not None
        # Printed once the grandchild said it armed the signal (a fixed sleep could be too
        # short for a Python start on a loaded machine).
        grandchild = int(parent.stdout.readline())
        assert alive(grandchild)
        parent.kill()
        parent.wait()
        assert wait_gone([grandchild], timeout=10) == []
    finally:
        stop(parent)


@pytest.mark.e2e
def test_workers_of_a_killed_server_stop_answering(artifacts_dir: Path, tmp_path: Path) -> None:
    """SIGKILL of `mlops serve` and its direct children: the HTTP workers exit too."""
    port = free_port()
    env = {
        **os.environ,
        **TOKENS_ENV,
        "MLOPS_ARTIFACTS_DIR": str(artifacts_dir),
        "MLOPS_DB_PATH": str(tmp_path / "log.db"),
        "MLOPS_PORT": str(port),
        "MLOPS_GRPC_PORT": str(free_port()),
        "MLOPS_WORKERS": "2",
    }
    serve = subprocess.Popen(
        [sys.executable, "-m", "mlops_pipeline.cli", "serve"], env=env, start_new_session=True
    )
    workers: list[int] = []
    try:
        wait_until_ready(f"http://127.0.0.1:{port}/ready", timeout=60, process=serve)
        direct = children(serve.pid)
        workers.extend(worker for child in direct for worker in children(child))
        assert len(workers) >= 2, (direct, workers)
        for pid in [serve.pid, *direct]:
            os.kill(pid, signal.SIGKILL)
        serve.wait()
        left = wait_gone(workers, timeout=20)
        assert left == [], (
            direct,
            workers,
            [Path(f"/proc/{pid}/status").read_text()[:400] for pid in left],
        )
        with pytest.raises(requests.ConnectionError):
            requests.get(f"http://127.0.0.1:{port}/health", timeout=2)
    finally:
        stop(serve)
        for pid in filter(alive, workers):  # only if the test failed: leave nothing behind
            os.kill(pid, signal.SIGKILL)
