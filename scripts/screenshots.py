"""Screenshot every UI page with headless Chromium (Debian package `chromium`).

Starts the API and the UI on free ports with freshly trained models, sends some traffic and
labels so the pages have something to show, then writes docs/screenshots/<page>.png.

Run: .venv/bin/python scripts/screenshots.py
"""

from __future__ import annotations

import os
import shutil
import socket
import subprocess
import sys
import tempfile
import time
from pathlib import Path

import numpy as np
import requests

ROOT = Path(__file__).resolve().parents[1]
OUT = ROOT / "docs" / "screenshots"
PAGES = {"predict": "", "batch": "batch", "experiment": "experiment", "monitoring": "monitoring"}


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


def wait(url: str, timeout: float = 60) -> None:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        try:
            if requests.get(url, timeout=2).status_code < 500:
                return
        except requests.RequestException:
            pass
        time.sleep(0.2)
    raise TimeoutError(url)


def traffic(api: str) -> None:
    rng = np.random.default_rng(0)
    from mlops_pipeline.data import load_iris_dataset

    iris = load_iris_dataset()
    with requests.Session() as http:
        for index in rng.integers(0, 150, size=200):
            answer = http.post(
                api + "/predict", json={"features": iris.features[index].tolist()}, timeout=5
            ).json()
            if index % 3 == 0:
                http.post(
                    api + "/feedback",
                    json={
                        "request_id": answer["request_id"],
                        "true_label": int(iris.labels[index]),
                    },
                    timeout=5,
                )


def main() -> None:
    chromium = shutil.which("chromium") or shutil.which("chromium-browser")
    if chromium is None:
        sys.exit("chromium is not installed: apt-get install chromium")
    work = Path(tempfile.mkdtemp(prefix="mlops-shots-"))
    api_port, ui_port, prometheus_port = free_port(), free_port(), free_port()
    env = {
        **os.environ,
        "MLOPS_ARTIFACTS_DIR": str(work / "artifacts"),
        "MLOPS_DB_PATH": str(work / "log.db"),
        "MLOPS_API_URL": f"http://127.0.0.1:{api_port}",
        "MLOPS_PROMETHEUS_URL": f"http://127.0.0.1:{prometheus_port}",
    }
    mlops = [sys.executable, "-m", "mlops_pipeline.cli"]
    subprocess.run([*mlops, "train"], env=env, check=True, stdout=subprocess.DEVNULL)
    processes = [
        subprocess.Popen(
            [*mlops, "serve", "--port", str(api_port)],
            env=env,
            stdout=subprocess.DEVNULL,
            stderr=subprocess.DEVNULL,
        ),
        subprocess.Popen(
            [*mlops, "ui", "--port", str(ui_port)],
            env=env,
            stdout=subprocess.DEVNULL,
            stderr=subprocess.DEVNULL,
        ),
    ]
    prometheus = shutil.which("prometheus")
    if prometheus is not None:
        from mlops_pipeline.launcher import prometheus_config

        config = prometheus_config(
            ROOT / "deploy" / "prometheus",
            work / "prometheus",
            f"127.0.0.1:{api_port}",
            scrape_interval="1s",
        )
        processes.append(
            subprocess.Popen(
                [
                    prometheus,
                    f"--config.file={config}",
                    f"--storage.tsdb.path={work / 'tsdb'}",
                    f"--web.listen-address=127.0.0.1:{prometheus_port}",
                ],
                stdout=subprocess.DEVNULL,
                stderr=subprocess.DEVNULL,
            )
        )
    try:
        wait(f"http://127.0.0.1:{api_port}/ready")
        wait(f"http://127.0.0.1:{ui_port}/_stcore/health")
        for _ in range(3):  # a minute of traffic gives the rate charts a few points
            traffic(f"http://127.0.0.1:{api_port}")
            time.sleep(8)
        OUT.mkdir(parents=True, exist_ok=True)
        for name, path in PAGES.items():
            target = OUT / f"{name}.png"
            subprocess.run(
                [
                    chromium,
                    "--headless",
                    "--no-sandbox",
                    "--disable-gpu",
                    "--disable-quic",
                    "--no-first-run",
                    "--disable-background-networking",
                    "--disable-component-update",
                    "--disable-sync",
                    "--hide-scrollbars",
                    f"--user-data-dir={work / 'chromium'}",
                    "--window-size=1280,1400",
                    "--virtual-time-budget=60000",
                    f"--screenshot={target}",
                    f"http://127.0.0.1:{ui_port}/{path}",
                ],
                check=True,
                stdout=subprocess.DEVNULL,
                stderr=subprocess.DEVNULL,
                timeout=120,
            )
            print(f"wrote {target.relative_to(ROOT)}")
    finally:
        for process in processes:
            process.terminate()
            process.wait(timeout=20)
        shutil.rmtree(work, ignore_errors=True)


if __name__ == "__main__":
    main()
