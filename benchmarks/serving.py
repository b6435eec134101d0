"""Serving benchmark: in-process latency, 10,000-row batch, and wrk throughput vs bare Flask.

Run: .venv/bin/python benchmarks/serving.py [--duration 30] [--rounds 3]
Prints numbers; asserts nothing. Needs `wrk` (Debian package) on PATH.
"""

from __future__ import annotations

import argparse
import json
import os
import re
import shutil
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path

import numpy as np
import requests

HERE = Path(__file__).resolve().parent
sys.path.insert(0, str(HERE.parent / "tests"))
from mlops_pipeline.artifacts import load_bundle, load_skops  # noqa: E402
from mlops_pipeline.config import load_catalogue  # noqa: E402
from mlops_pipeline.data import load_iris_dataset  # noqa: E402
from mlops_pipeline.inference import OnnxPredictor  # noqa: E402
from mlops_pipeline.training import train_all  # noqa: E402

from servers import free_port, wait_until_ready  # noqa: E402

ADMIN_TOKEN = "bench-admin-token-0123456789"


def percentile_us(samples: list[float], q: float) -> float:
    return float(np.percentile(samples, q) * 1e6)


def in_process(artifacts: Path, version: str, iterations: int) -> None:
    bundle = load_bundle(artifacts)
    predictor = OnnxPredictor(version, bundle.versions[version].onnx_bytes)
    row = np.array([[5.1, 3.5, 1.4, 0.2]])
    for _ in range(500):
        predictor.predict(row)
    samples = []
    for _ in range(iterations):
        started = time.perf_counter()
        predictor.predict(row)
        samples.append(time.perf_counter() - started)
    model = load_skops(artifacts / version / "model.skops")
    sk_samples = []
    for _ in range(200):
        started = time.perf_counter()
        model.predict_proba(row)
        sk_samples.append(time.perf_counter() - started)
    print(f"in-process single row, {version} ({len(samples)} calls):")
    print(
        f"  ONNX Runtime  p50 {percentile_us(samples, 50):8.1f} us"
        f"   p99 {percentile_us(samples, 99):8.1f} us"
    )
    print(
        f"  scikit-learn  p50 {percentile_us(sk_samples, 50):8.1f} us"
        "   (for comparison; never on the serving path)"
    )


def start(command: list[str], env: dict[str, str]) -> subprocess.Popen[bytes]:
    return subprocess.Popen(command, env=env, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)


def wrk(url: str, duration: int) -> tuple[float, float, float, int]:
    output = subprocess.run(
        [
            "wrk",
            "-t1",
            "-c8",
            f"-d{duration}s",
            "--latency",
            "-s",
            str(HERE / "post_predict.lua"),
            url,
        ],
        capture_output=True,
        text=True,
        check=True,
    ).stdout
    rps = float(re.search(r"Requests/sec:\s+([\d.]+)", output).group(1))  # type: ignore[union-attr]
    p50 = _latency_ms(output, "50%")
    p99 = _latency_ms(output, "99%")
    non_2xx = re.search(r"Non-2xx or 3xx responses:\s+(\d+)", output)
    errors = int(non_2xx.group(1)) if non_2xx else 0
    return rps, p50, p99, errors


def _latency_ms(output: str, label: str) -> float:
    value, unit = re.search(rf"{label}\s+([\d.]+)(us|ms|s)", output).groups()  # type: ignore[union-attr]
    return float(value) * {"us": 1e-3, "ms": 1.0, "s": 1e3}[unit]


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--duration", type=int, default=30, help="seconds per wrk run")
    parser.add_argument("--rounds", type=int, default=3, help="alternating rounds of each server")
    parser.add_argument("--iterations", type=int, default=20_000)
    args = parser.parse_args()
    if shutil.which("wrk") is None:
        sys.exit("wrk is not installed: apt-get install wrk")

    workdir = Path(tempfile.mkdtemp(prefix="mlops-bench-"))
    artifacts = workdir / "artifacts"
    train_all(load_iris_dataset(), load_catalogue(), artifacts)
    in_process(artifacts, "v2", args.iterations)

    ports = {"api": free_port(), "api, drift off": free_port(), "bare": free_port()}
    env = {
        **os.environ,
        "MLOPS_ARTIFACTS_DIR": str(artifacts),
        "MLOPS_DB_PATH": str(workdir / "log.db"),
        "MLOPS_ADMIN_TOKEN": ADMIN_TOKEN,
        "MLOPS_ACCESS_LOG": "false",  # the benchmark measures serving, not a terminal
    }
    serve = [sys.executable, "-m", "mlops_pipeline.cli", "serve", "--workers", "2", "--port"]
    processes = [
        start([*serve, str(ports["api"])], env),
        # Drift off: no background recomputation (it would be computed only on GET /drift).
        start(
            [*serve, str(ports["api, drift off"])],
            {**env, "MLOPS_DRIFT_INTERVAL_SECONDS": "0", "MLOPS_DB_PATH": str(workdir / "b.db")},
        ),
        start(
            [
                sys.executable,
                "-m",
                "gunicorn",
                "--bind",
                f"127.0.0.1:{ports['bare']}",
                "--workers",
                "2",
                "--no-control-socket",
                "--chdir",
                str(HERE),
                "bare_app:app",
            ],
            env,
        ),
    ]
    urls = {name: f"http://127.0.0.1:{port}" for name, port in ports.items()}
    try:
        wait_until_ready(urls["api"] + "/ready")
        wait_until_ready(urls["api, drift off"] + "/ready")
        wait_until_ready(urls["bare"] + "/predict", method="POST")
        batch(urls["api"])
        throughput(urls, args.duration, args.rounds)
        drift = requests.get(urls["api"] + "/drift", timeout=5).json()
        rows = requests.get(
            urls["api"] + "/predictions?limit=1",
            headers={"Authorization": f"Bearer {ADMIN_TOKEN}"},
            timeout=5,
        ).json()["count"]
        print(
            f"prediction log on (newest row readable: {rows == 1});"
            f" drift window {drift['window_size']} rows, status {drift['status']}"
        )
    finally:
        for process in processes:
            process.terminate()
            process.wait(timeout=20)
        shutil.rmtree(workdir, ignore_errors=True)


def batch(api_url: str) -> None:
    rng = np.random.default_rng(0)
    rows = np.round(rng.uniform([4.3, 2.0, 1.0, 0.1], [7.9, 4.4, 6.9, 2.5], size=(10_000, 4)), 1)
    body = json.dumps({"instances": rows.tolist()})
    times = []
    with requests.Session() as session:
        for _ in range(11):
            started = time.perf_counter()
            response = session.post(
                api_url + "/predict",
                data=body,
                headers={"Content-Type": "application/json"},
                timeout=30,
            )
            times.append(time.perf_counter() - started)
            assert response.status_code == 200, response.text
    print(
        f"10,000-row batch over HTTP: median {statistics.median(times[1:]) * 1e3:.1f} ms "
        f"(min {min(times[1:]) * 1e3:.1f}, max {max(times[1:]) * 1e3:.1f}) over 10 requests"
    )


def throughput(urls: dict[str, str], duration: int, rounds: int) -> None:
    results: dict[str, list[tuple[float, float, float, int]]] = {name: [] for name in urls}
    for url in urls.values():  # warm up
        wrk(url + "/predict", 2)
    for _ in range(rounds):
        for name, url in urls.items():
            results[name].append(wrk(url + "/predict", duration))
    print(
        f"wrk -t1 -c8 -d{duration}s, single-row POST /predict, 2 workers (mlops serve: granian;"
        " bare: gunicorn sync),"
        f" {rounds} alternating rounds (medians):"
    )
    medians = {}
    for name, runs in results.items():
        medians[name] = statistics.median(run[0] for run in runs)
        print(
            f"  {name:15s} {medians[name]:7.0f} req/s"
            f"   p50 {statistics.median(r[1] for r in runs):5.2f} ms"
            f"   p99 {statistics.median(r[2] for r in runs):5.2f} ms"
            f"   non-2xx {sum(r[3] for r in runs)}   runs {[round(r[0]) for r in runs]}"
        )
    for name in ("api", "api, drift off"):
        print(f"  throughput ratio {name} / bare: {medians[name] / medians['bare']:.2f}")


if __name__ == "__main__":
    main()
