"""Slow clients against `mlops serve`: granian (shipped) and gunicorn sync, side by side.

32 connections trickle a request's headers at one byte per second for 20 s while a 33rd client
asks GET /health every 0.5 s. Prints the slowest and median health answer and the timeouts per
server. Asserts nothing.

Run: .venv/bin/python -m benchmarks.slow_clients [--seconds 20] [--connections 32]
"""

from __future__ import annotations

import argparse
import os
import shutil
import signal
import statistics
import subprocess
import sys
import tempfile
import threading
import time
from pathlib import Path

import requests

HERE = Path(__file__).resolve().parent
from tests.support.servers import free_port, trickle, wait_until_ready  # noqa: E402

from mlops_pipeline.config import load_catalogue  # noqa: E402
from mlops_pipeline.training.data import load_iris_dataset  # noqa: E402
from mlops_pipeline.training.trainer import train_all  # noqa: E402


def measure(server: str, artifacts: Path, work: Path, seconds: int, connections: int) -> None:
    port = free_port()
    env = {
        **os.environ,
        "MLOPS_SERVER": server,
        "MLOPS_ARTIFACTS_DIR": str(artifacts),
        "MLOPS_DB_PATH": str(work / f"{server}.db"),
        "MLOPS_ACCESS_LOG": "false",
    }
    cli = [sys.executable, "-m", "mlops_pipeline.cli"]
    subprocess.run([*cli, "db", "upgrade"], env=env, check=True, stdout=subprocess.DEVNULL)
    command = [*cli, "serve", "--port", str(port)]
    process = subprocess.Popen(
        command, env=env, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL
    )
    try:
        wait_until_ready(f"http://127.0.0.1:{port}/ready")
        stop = threading.Event()
        thread = threading.Thread(
            target=trickle, args=("127.0.0.1", port, connections, seconds, stop)
        )
        thread.start()
        time.sleep(1)
        times, timeouts = [], 0
        deadline = time.monotonic() + seconds - 1
        while time.monotonic() < deadline:
            started = time.monotonic()
            try:
                requests.get(f"http://127.0.0.1:{port}/health", timeout=3)
                times.append(time.monotonic() - started)
            except requests.RequestException:
                timeouts += 1
            time.sleep(0.5)
        stop.set()
        thread.join()
        slowest = f"{max(times) * 1000:7.1f} ms" if times else "      -"
        median = f"{statistics.median(times) * 1000:6.1f} ms" if times else "     -"
        print(
            f"  {server:9s} health answered {len(times):3d}, timed out (3 s) {timeouts:3d},"
            f" median {median}, slowest {slowest}"
        )
    finally:
        process.send_signal(signal.SIGTERM)
        process.wait(timeout=30)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--seconds", type=int, default=20)
    parser.add_argument("--connections", type=int, default=32)
    args = parser.parse_args()
    work = Path(tempfile.mkdtemp(prefix="mlops-slow-"))
    try:
        train_all(load_iris_dataset(), load_catalogue(), work / "artifacts")
        print(
            f"{args.connections} connections trickling headers at 1 byte/s for {args.seconds} s,"
            " 2 workers, GET /health every 0.5 s:"
        )
        for server in ("granian", "gunicorn"):
            measure(server, work / "artifacts", work, args.seconds, args.connections)
    finally:
        shutil.rmtree(work, ignore_errors=True)


if __name__ == "__main__":
    main()
