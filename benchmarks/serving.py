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

    api_port, bare_port = free_port(), free_port()
    env = {
        **os.environ,
        "MLOPS_ARTIFACTS_DIR": str(artifacts),
        "MLOPS_DB_PATH": str(workdir / "log.db"),
    }
    api = start(
        [
            sys.executable,
            "-m",
            "mlops_pipeline.cli",
            "serve",
            "--port",
            str(api_port),
            "--workers",
            "2",
        ],
        env,
    )
    bare = start(
        [
            sys.executable,
            "-m",
            "gunicorn",
            "--bind",
            f"127.0.0.1:{bare_port}",
            "--workers",
            "2",
            "--no-control-socket",
            "--chdir",
            str(HERE),
            "bare_app:app",
        ],
        env,
    )
    try:
        api_url, bare_url = f"http://127.0.0.1:{api_port}", f"http://127.0.0.1:{bare_port}"
        wait_until_ready(api_url + "/ready")
        wait_until_ready(bare_url + "/predict", method="POST")
        batch(api_url)
        throughput(api_url, bare_url, args.duration, args.rounds)
        rows = requests.get(api_url + "/predictions?limit=1", timeout=5).json()["count"]
        print(f"prediction log is on (latest row present: {rows == 1})")
    finally:
        for process in (api, bare):
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
            response = session.post(api_url + "/predict", data=body, timeout=30)
            times.append(time.perf_counter() - started)
            assert response.status_code == 200, response.text
    print(
        f"10,000-row batch over HTTP: median {statistics.median(times[1:]) * 1e3:.1f} ms "
        f"(min {min(times[1:]) * 1e3:.1f}, max {max(times[1:]) * 1e3:.1f}) over 10 requests"
    )


def throughput(api_url: str, bare_url: str, duration: int, rounds: int) -> None:
    results: dict[str, list[tuple[float, float, float, int]]] = {"api": [], "bare": []}
    wrk(api_url + "/predict", 2)  # warm both
    wrk(bare_url + "/predict", 2)
    for _ in range(rounds):
        results["bare"].append(wrk(bare_url + "/predict", duration))
        results["api"].append(wrk(api_url + "/predict", duration))
    print(
        f"wrk -t1 -c8 -d{duration}s, single-row POST /predict, gunicorn --workers 2,"
        f" {rounds} rounds (medians):"
    )
    medians = {}
    for name, runs in results.items():
        rps = statistics.median(run[0] for run in runs)
        medians[name] = rps
        print(
            f"  {name:5s} {rps:8.0f} req/s   p50 {statistics.median(r[1] for r in runs):6.2f} ms"
            f"   p99 {statistics.median(r[2] for r in runs):6.2f} ms"
            f"   non-2xx {sum(r[3] for r in runs)}   runs {[round(r[0]) for r in runs]}"
        )
    print(f"  throughput ratio api/bare: {medians['api'] / medians['bare']:.2f}")


if __name__ == "__main__":
    main()
