"""Serving benchmark: in-process latency, 10,000-row batch, and wrk throughput vs bare Flask.

Every ratio compares servers measured in the same run, in interleaved rounds.
Run: .venv/bin/python -m benchmarks.serving [--duration 10] [--rounds 3] [--before REF]

--before REF also serves the code of git revision REF (a temporary worktree, this venv) beside
this checkout's, on its own log, and measures its /predict and V2 in the same interleaved rounds.
--traced also serves this checkout with OpenTelemetry on, exporting every span over OTLP/HTTP
to a sink in this process (it reads and discards each export): the price of tracing.
--penguins also serves the penguins example (benchmarks/serving_penguins.py): its /predict and
V2 in the same interleaved rounds as Iris, and a 10,000-row penguins batch.
Prints numbers; asserts nothing. Needs `wrk` (Debian package) on PATH.
"""

from __future__ import annotations

import argparse
import contextlib
import json
import os
import re
import shutil
import statistics
import subprocess
import sys
import tempfile
import threading
import time
from collections.abc import Iterator
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path

import numpy as np
import requests

HERE = Path(__file__).resolve().parent
from tests.support.servers import free_port, wait_until_ready  # noqa: E402

from benchmarks.revisions import checkout, revision_env  # noqa: E402
from benchmarks.serving_penguins import (  # noqa: E402
    paired_order,
    penguins_batch,
    penguins_env,
    penguins_targets,
    print_ratios,
)
from mlops_pipeline.artifacts import load_bundle, load_skops  # noqa: E402
from mlops_pipeline.config import load_catalogue  # noqa: E402
from mlops_pipeline.serving.inference import OnnxPredictor  # noqa: E402
from mlops_pipeline.training.data import load_iris_dataset  # noqa: E402
from mlops_pipeline.training.trainer import train_all  # noqa: E402

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


def start(
    command: list[str], env: dict[str, str], log: Path | None = None
) -> subprocess.Popen[bytes]:
    out = open(log, "ab") if log is not None else subprocess.DEVNULL  # noqa: SIM115
    return subprocess.Popen(command, env=env, stdout=out, stderr=out)


def wrk(
    url: str, duration: int, script: str = "post_predict.lua"
) -> tuple[float, float, float, int]:
    output = subprocess.run(
        ["wrk", "-t1", "-c8", f"-d{duration}s", "--latency", "-s", str(HERE / script), url],
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
    parser.add_argument("--duration", type=int, default=10, help="seconds per wrk run")
    parser.add_argument("--rounds", type=int, default=3, help="interleaved rounds of each server")
    parser.add_argument("--iterations", type=int, default=20_000)
    parser.add_argument("--before", metavar="REF", help="git revision served beside this one")
    parser.add_argument("--traced", action="store_true", help="also serve with tracing on")
    parser.add_argument("--penguins", action="store_true", help="also serve the penguins example")
    args = parser.parse_args()
    if shutil.which("wrk") is None:
        sys.exit("wrk is not installed: apt-get install wrk")

    workdir = Path(tempfile.mkdtemp(prefix="mlops-bench-"))
    artifacts = workdir / "artifacts"
    train_all(load_iris_dataset(), load_catalogue(), artifacts)
    in_process(artifacts, "v2", args.iterations)

    names = ["mlops serve", "bare gunicorn", "bare granian"] + (["before"] if args.before else [])
    names += ["traced"] if args.traced else []
    names += ["penguins"] if args.penguins else []
    ports = {name: free_port() for name in names}
    stack = contextlib.ExitStack()
    env = {
        **os.environ,
        "MLOPS_ARTIFACTS_DIR": str(artifacts),
        "MLOPS_DB_PATH": str(workdir / "log.db"),
        "MLOPS_ADMIN_TOKEN": ADMIN_TOKEN,
        "MLOPS_GRPC_PORT": str(free_port()),  # as shipped (a gRPC process), on a free port
    }
    subprocess.run(
        [sys.executable, "-m", "mlops_pipeline.cli", "db", "upgrade"], env=env, check=True
    )
    bare = ["--chdir", str(HERE), "bare_app:app"]
    processes = [
        # As shipped: every prediction logged and counted, the JSON access log on (to a file).
        start(
            [sys.executable, "-m", "mlops_pipeline.cli", "serve", "--workers", "2", "--port",
             str(ports["mlops serve"])],
            env,
            workdir / "access.log",
        ),
        # The monitor beside it, as `mlops up` runs it: drift every 5 s, in its own process, so
        # the serving workers' p99 shows no spikes from periodic work.
        start(
            [sys.executable, "-m", "mlops_pipeline.cli", "monitor", "--port", str(free_port())],
            {**env, "MLOPS_DRIFT_INTERVAL_SECONDS": "5"},
        ),
        start(
            [sys.executable, "-m", "gunicorn", "--bind", f"127.0.0.1:{ports['bare gunicorn']}",
             "--workers", "2", "--no-control-socket", *bare],
            env,
        ),
        start(
            [sys.executable, "-m", "granian", "--interface", "wsgi", "--workers", "2",
             "--blocking-threads", "1", "--port", str(ports["bare granian"]), "--working-dir",
             str(HERE), "bare_app:app"],
            env,
        ),
    ]  # fmt: skip
    # Beside the shipped server: another revision's code (--before), tracing on (--traced); each
    # an `mlops serve` of its own on its own log, so none shares a database lock with another.
    extra: dict[str, dict[str, str]] = {}
    if args.before:
        extra["before"] = revision_env(stack.enter_context(checkout(args.before)))
    if args.traced:
        extra["traced"] = {"OTEL_EXPORTER_OTLP_ENDPOINT": stack.enter_context(otlp_sink())}
    if args.penguins:
        extra["penguins"] = penguins_env(workdir)
    for name, overrides in extra.items():
        # No gRPC beside the shipped server's: its default port is taken by that one.
        served_env = {
            **env,
            "MLOPS_GRPC_PORT": "0",
            **overrides,
            "MLOPS_DB_PATH": str(workdir / f"{name}.db"),
        }
        subprocess.run(
            [sys.executable, "-m", "mlops_pipeline.cli", "db", "upgrade"],
            env=served_env, check=True,
        )  # fmt: skip
        processes.append(
            start(
                [sys.executable, "-m", "mlops_pipeline.cli", "serve", "--workers", "2",
                 "--port", str(ports[name])],
                served_env,
                workdir / f"access-{name}.log",
            )
        )  # fmt: skip
    urls = {name: f"http://127.0.0.1:{port}" for name, port in ports.items()}
    try:
        wait_until_ready(urls["mlops serve"] + "/ready")
        for name in ("before", "traced", "penguins"):
            if name in urls:
                wait_until_ready(urls[name] + "/ready")
        for name in ("bare gunicorn", "bare granian"):
            wait_until_ready(urls[name] + "/predict", method="POST")
        batch(urls["mlops serve"])
        throughput(urls, args.duration, args.rounds, args.before)
        if args.penguins:
            penguins_batch(urls["penguins"])
        if args.traced:
            print(f"spans exported to the sink: {SPANS_RECEIVED[0]:,} bytes of OTLP")
        rows = requests.get(
            urls["mlops serve"] + "/predictions?limit=1",
            headers={"Authorization": f"Bearer {ADMIN_TOKEN}"},
            timeout=5,
        ).json()["count"]
        print(f"prediction log on (newest row readable: {rows == 1})")
    finally:
        for process in processes:
            process.terminate()
            process.wait(timeout=20)
        stack.close()
        shutil.rmtree(workdir, ignore_errors=True)


SPANS_RECEIVED = [0]


@contextlib.contextmanager
def otlp_sink() -> Iterator[str]:
    """An OTLP/HTTP endpoint that reads each export and answers 200 (an empty response)."""

    class Sink(BaseHTTPRequestHandler):
        def do_POST(self) -> None:
            size = int(self.headers.get("Content-Length", "0"))
            SPANS_RECEIVED[0] += len(self.rfile.read(size))
            self.send_response(200)
            self.send_header("Content-Length", "0")
            self.end_headers()

        def log_message(self, format: str, *args: object) -> None:
            pass

    server = ThreadingHTTPServer(("127.0.0.1", 0), Sink)
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    try:
        yield f"http://127.0.0.1:{server.server_address[1]}"
    finally:
        server.shutdown()
        server.server_close()


def batch(api_url: str) -> None:
    rng = np.random.default_rng(0)
    rows = np.round(rng.uniform([4.3, 2.0, 1.0, 0.1], [7.9, 4.4, 6.9, 2.5], size=(10_000, 4)), 1)
    body = json.dumps({"instances": rows.tolist()})
    times = []
    with requests.Session() as session:
        for _ in range(6):
            started = time.perf_counter()
            response = session.post(
                api_url + "/predict",
                data=body,
                headers={"Content-Type": "application/json"},
                timeout=30,
            )
            times.append(time.perf_counter() - started)
            assert response.status_code == 200, response.text
    measured = times[1:]  # the first warms up
    median = statistics.median(measured) * 1e3
    print(
        f"10,000-row batch over HTTP, JSON in and out: median {median:.1f} ms"
        f" (min {min(measured) * 1e3:.1f}, max {max(measured) * 1e3:.1f}) over 5 requests"
    )


def throughput(urls: dict[str, str], duration: int, rounds: int, before: str | None) -> None:
    runs: dict[str, list[tuple[float, float, float, int]]] = {}
    targets = {
        "mlops serve /predict": (urls["mlops serve"] + "/predict", "post_predict.lua"),
        "mlops serve V2 infer": (
            urls["mlops serve"] + "/v2/models/iris/infer",
            "post_v2_infer.lua",
        ),
        "bare Flask, gunicorn sync x2": (urls["bare gunicorn"] + "/predict", "post_predict.lua"),
        "bare Flask, granian x2": (urls["bare granian"] + "/predict", "post_predict.lua"),
    }
    if "penguins" in urls:
        targets = paired_order(targets, penguins_targets(urls["penguins"]))
    if "traced" in urls:
        targets["traced /predict"] = (urls["traced"] + "/predict", "post_predict.lua")
    if before:
        targets[f"{before[:12]} /predict"] = (urls["before"] + "/predict", "post_predict.lua")
        targets[f"{before[:12]} V2 infer"] = (
            urls["before"] + "/v2/models/iris/infer",
            "post_v2_infer.lua",
        )
    for url, script in targets.values():  # warm up
        wrk(url, 2, script)
    for round_ in range(rounds):  # interleaved, so a busy moment of the host hits every server
        # Every other round in reverse order (A B .. B A): a load that grows or fades during a
        # round weighs on both ends alike, and each compared pair stays back to back.
        order = list(targets.items())
        for name, (url, script) in order[::-1] if round_ % 2 else order:
            runs.setdefault(name, []).append(wrk(url, duration, script))
    print(f"wrk -t1 -c8 -d{duration}s, single row, {rounds} interleaved rounds (medians):")
    medians = {}
    for name, results in runs.items():
        medians[name] = statistics.median(r[0] for r in results)
        print(
            f"  {name:30s} {medians[name]:7.0f} req/s"
            f"   p50 {statistics.median(r[1] for r in results):5.2f} ms"
            f"   p99 {statistics.median(r[2] for r in results):5.2f} ms"
            f"   non-2xx {sum(r[3] for r in results)}   runs {[round(r[0]) for r in results]}"
        )
    baseline = medians["bare Flask, gunicorn sync x2"]
    print(f"  /predict / bare gunicorn:   {medians['mlops serve /predict'] / baseline:.2f}x")
    print(
        "  V2 infer / /predict:        "
        f"{medians['mlops serve V2 infer'] / medians['mlops serve /predict']:.2f}x"
    )
    if "penguins" in urls:
        print_ratios(medians, {name: [r[0] for r in results] for name, results in runs.items()})
    if "traced" in urls:
        ratio = medians["traced /predict"] / medians["mlops serve /predict"]
        print(f"  traced /predict / /predict:  {ratio:.2f}x")
    if before:
        for route in ("/predict", "V2 infer"):
            ratio = medians[f"mlops serve {route}"] / medians[f"{before[:12]} {route}"]
            print(f"  {route} / {before[:12]}:{' ' * (14 - len(route))}{ratio:.2f}x")


if __name__ == "__main__":
    main()
