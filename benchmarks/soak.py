"""Load and fault run against `mlops serve --workers 2`. Prints numbers; asserts nothing.

1. steady: wrk -t2 -c64 for --duration seconds; failed requests, RSS growth per worker, and
   prediction-log rows against successful responses;
2. kill: SIGKILL one worker in the middle of a 20 s run; failure rate and log rows;
3. restart: stop and restart the whole API during load; weights, audit history, labels and the
   verdict before and after.

Run: .venv/bin/python -m benchmarks.soak [--duration 60]
"""

from __future__ import annotations

import argparse
import os
import re
import shutil
import signal
import sqlite3
import subprocess
import sys
import tempfile
import threading
import time
from pathlib import Path

import requests

HERE = Path(__file__).resolve().parent
from tests.support.servers import free_port, wait_until_ready  # noqa: E402

from mlops_pipeline.config import load_catalogue  # noqa: E402
from mlops_pipeline.training.data import load_iris_dataset  # noqa: E402
from mlops_pipeline.training.trainer import train_all  # noqa: E402

TOKEN = "soak-admin-token-0123456789"
FEEDBACK_TOKEN = "soak-feedback-token-0123456789"


def children(pid: int) -> list[int]:
    found = []
    for entry in Path("/proc").iterdir():
        if entry.name.isdigit():
            try:
                fields = (entry / "stat").read_text().rsplit(")", 1)[1].split()
            except OSError:
                continue
            if int(fields[1]) == pid:
                found.append(int(entry.name))
    return found


def workers(server_pid: int) -> list[int]:
    """The server's workers under `mlops serve`: grandchildren of the launcher."""
    return [worker for master in children(server_pid) for worker in children(master)]


def rss_kb(pid: int) -> int:
    match = re.search(r"VmRSS:\s+(\d+)", Path(f"/proc/{pid}/status").read_text())
    return int(match.group(1)) if match else 0


def wrk(url: str, seconds: int, connections: int = 64) -> dict[str, int]:
    output = subprocess.run(
        [
            "wrk",
            "-t2",
            f"-c{connections}",
            f"-d{seconds}s",
            "--timeout",
            "5s",
            "-s",
            str(HERE / "post_predict.lua"),
            url + "/predict",
        ],
        capture_output=True,
        text=True,
        check=True,
    ).stdout
    total = int(re.search(r"(\d+) requests in", output).group(1))  # type: ignore[union-attr]
    non_2xx = re.search(r"Non-2xx or 3xx responses: (\d+)", output)
    errors = re.search(
        r"Socket errors: connect (\d+), read (\d+), write (\d+), timeout (\d+)", output
    )
    socket_errors = sum(int(x) for x in errors.groups()) if errors else 0
    bad = int(non_2xx.group(1)) if non_2xx else 0
    return {"responses": total, "ok": total - bad, "non_2xx": bad, "socket_errors": socket_errors}


def log_rows(db: Path) -> int:
    with sqlite3.connect(db) as connection:
        return int(
            connection.execute("SELECT COALESCE(SUM(n_rows), 0) FROM predictions").fetchone()[0]
        )


def start(port: int, env: dict[str, str]) -> subprocess.Popen[bytes]:
    return subprocess.Popen(
        [
            sys.executable,
            "-m",
            "mlops_pipeline.cli",
            "serve",
            "--workers",
            "2",
            "--port",
            str(port),
        ],
        env=env,
        stdout=subprocess.DEVNULL,
        stderr=subprocess.DEVNULL,
    )


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--duration", type=int, default=60)
    args = parser.parse_args()
    work = Path(tempfile.mkdtemp(prefix="mlops-soak-"))
    train_all(load_iris_dataset(), load_catalogue(), work / "artifacts")
    db = work / "log.db"
    env = {
        **os.environ,
        "MLOPS_ARTIFACTS_DIR": str(work / "artifacts"),
        "MLOPS_DB_PATH": str(db),
        "MLOPS_ADMIN_TOKEN": TOKEN,
        "MLOPS_FEEDBACK_TOKEN": FEEDBACK_TOKEN,
    }
    subprocess.run(
        [sys.executable, "-m", "mlops_pipeline.cli", "db", "upgrade"],
        env=env,
        check=True,
        stdout=subprocess.DEVNULL,
    )
    port = free_port()
    url = f"http://127.0.0.1:{port}"
    server = start(port, env)
    try:
        wait_until_ready(url + "/ready")
        wrk(url, 5)  # warm up
        pids = workers(server.pid)
        before = {pid: rss_kb(pid) for pid in pids}
        rows_before = log_rows(db)
        steady = wrk(url, args.duration)
        growth = {pid: (rss_kb(pid) - kb) / kb for pid, kb in before.items()}
        logged = log_rows(db) - rows_before
        print(
            f"steady, {args.duration} s at 64 connections: {steady['responses']} responses,"
            f" {steady['non_2xx']} non-2xx, {steady['socket_errors']} socket errors,"
            f" {steady['responses'] / args.duration:.0f} req/s"
        )
        print(
            "  RSS growth per worker: "
            + ", ".join(f"pid {pid} {100 * g:+.1f}%" for pid, g in growth.items())
        )
        print(f"  log rows added {logged} vs successful responses {steady['ok']}")

        rows_before = log_rows(db)
        victim = workers(server.pid)[0]
        killer = threading.Timer(8, os.kill, args=(victim, signal.SIGKILL))
        killer.start()
        killed = wrk(url, 20)
        failed = killed["non_2xx"] + killed["socket_errors"]
        logged = log_rows(db) - rows_before
        replacements = [pid for pid in workers(server.pid) if pid != victim]
        print(
            f"kill one worker (SIGKILL at 8 s of 20 s): {killed['responses']} responses,"
            f" {failed} failed ({100 * failed / max(1, killed['responses'] + failed):.2f}%),"
            f" workers now {len(replacements)}"
        )
        print(
            f"  log rows added {logged} vs successful responses {killed['ok']}"
            f" (every answered prediction logged: {logged >= killed['ok']})"
        )

        admin = {"Authorization": f"Bearer {TOKEN}"}
        requests.put(url + "/config/weights", json={"v1": 0.3, "v2": 0.7}, headers=admin, timeout=5)
        time.sleep(2)  # the other worker adopts the new split within MLOPS_WEIGHTS_SYNC_SECONDS
        with requests.Session() as http:
            for _ in range(150):
                answer = http.post(
                    url + "/predict", json={"features": [5.1, 3.5, 1.4, 0.2]}, timeout=5
                ).json()
                http.post(
                    url + "/feedback",
                    json={"request_id": answer["request_id"], "true_label": 0},
                    headers={"Authorization": f"Bearer {FEEDBACK_TOKEN}"},
                    timeout=5,
                )

        def snapshot() -> dict[str, object]:
            experiment = requests.get(url + "/experiment", timeout=10).json()
            return {
                "weights": requests.get(url + "/config", timeout=5).json()["weights"],
                "history": requests.get(url + "/config/history", headers=admin, timeout=5).json()[
                    "changes"
                ],
                "labelled": {v: s["labelled"] for v, s in experiment["versions"].items()},
                "accuracy": {v: s["accuracy"] for v, s in experiment["versions"].items()},
                "decision": experiment["decision"],
            }

        first = snapshot()
        loader = threading.Thread(target=wrk, args=(url, 15))
        loader.start()
        time.sleep(5)
        server.send_signal(signal.SIGTERM)
        server.wait(timeout=30)
        server = start(port, env)
        wait_until_ready(url + "/ready")
        loader.join()
        second = snapshot()
        print(
            "restart during load: state unchanged:",
            {key: first[key] == second[key] for key in first},
        )
    finally:
        server.send_signal(signal.SIGTERM)
        server.wait(timeout=30)
        shutil.rmtree(work, ignore_errors=True)


if __name__ == "__main__":
    main()
