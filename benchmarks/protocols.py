"""Open Inference Protocol transports: REST-JSON vs REST-binary vs gRPC, 1 row and 10,000 rows.

One `mlops serve` (2 HTTP workers, the V2 gRPC service beside them), three clients:
REST-JSON (http.client keep-alive with orjson, the leanest Python client, so formats are
compared rather than client libraries), REST-binary (tritonclient.http, the binary tensor
data extension both ways) and gRPC (tritonclient.grpc). Each timed call is what the client sees:
building the request, the round trip, and decoding both outputs. The transports run in
interleaved rounds; every ratio compares p50s measured in the same run. The three transports'
labels for one fixed batch, pinned to v1, must agree (else the script exits non-zero).
Run: .venv/bin/python -m benchmarks.protocols [--single 2000] [--batch 30] [--rounds 3]
Prints numbers; asserts nothing.
"""

from __future__ import annotations

import argparse
import http.client
import shutil
import sys
import tempfile
import time
from collections.abc import Callable
from pathlib import Path
from typing import Any

import numpy as np
import orjson
import tritonclient.grpc as grpcclient
import tritonclient.http as httpclient

HERE = Path(__file__).resolve().parent
from tests.support.servers import free_port, running_api  # noqa: E402

from mlops_pipeline.config import load_catalogue  # noqa: E402
from mlops_pipeline.training.data import load_iris_dataset  # noqa: E402
from mlops_pipeline.training.trainer import train_all  # noqa: E402

MODEL = "iris"
BATCH_ROWS = 10_000
LOW, HIGH = [4.3, 2.0, 1.0, 0.1], [7.9, 4.4, 6.9, 2.5]
TRANSPORTS = ("REST-JSON", "REST-binary", "gRPC")

# One call: rows in, (labels, probabilities) out.
Infer = Callable[[np.ndarray], tuple[np.ndarray, np.ndarray]]


def rest_json(url: str, version: str = "") -> Infer:
    path = f"/v2/models/{MODEL}" + (f"/versions/{version}" if version else "") + "/infer"
    host, port = url.removeprefix("http://").split(":")
    connection = http.client.HTTPConnection(host, int(port), timeout=60)

    def infer(rows: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
        body = {
            "inputs": [
                {
                    "name": "input",
                    "datatype": "FP64",
                    "shape": list(rows.shape),
                    "data": rows.ravel().tolist(),
                }
            ]
        }
        headers = {"Content-Type": "application/json"}
        connection.request("POST", path, orjson.dumps(body), headers)
        response = connection.getresponse()
        payload = response.read()
        if response.status != 200:
            raise RuntimeError(f"REST-JSON answered {response.status}: {payload[:200]!r}")
        outputs = {o["name"]: o for o in orjson.loads(payload)["outputs"]}
        labels = np.asarray(outputs["label"]["data"], dtype=np.int64)
        probabilities = np.asarray(outputs["probabilities"]["data"], dtype=np.float64)
        return labels, probabilities.reshape(outputs["probabilities"]["shape"])

    return infer


def triton(client: Any, module: Any, version: str = "") -> Infer:
    """tritonclient's defaults: binary input; no outputs named, so both come back binary."""

    def infer(rows: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
        inp = module.InferInput("input", list(rows.shape), "FP64")
        inp.set_data_from_numpy(rows)
        result = client.infer(MODEL, [inp], model_version=version)
        return result.as_numpy("label"), result.as_numpy("probabilities")

    return infer


def wait_for_grpc(client: grpcclient.InferenceServerClient, timeout: float = 20.0) -> None:
    deadline = time.monotonic() + timeout
    last: Exception | None = None
    while time.monotonic() < deadline:
        try:
            if client.is_server_ready():
                return
        except Exception as exc:  # not listening yet
            last = exc
        time.sleep(0.1)
    sys.exit(f"the gRPC service did not answer within {timeout:.0f}s: {last}")


def check_agreement(pinned: dict[str, Infer], rows: np.ndarray) -> None:
    answers = {name: infer(rows) for name, infer in pinned.items()}
    reference_labels, reference_probabilities = answers["REST-JSON"]
    for name, (labels, probabilities) in answers.items():
        if labels.shape != (len(rows),) or not np.array_equal(labels, reference_labels):
            sys.exit(f"labels disagree: {name} vs REST-JSON on the fixed batch")
        if not np.allclose(probabilities, reference_probabilities, rtol=0, atol=1e-12):
            sys.exit(f"probabilities disagree: {name} vs REST-JSON on the fixed batch")
    print(
        f"labels agree across {', '.join(answers)} on {len(rows):,} fixed rows (v1 pinned;"
        f" class counts {np.bincount(reference_labels).tolist()}); probabilities equal too"
    )


def timed(infer: Infer, inputs: list[np.ndarray], samples: list[float]) -> None:
    for rows in inputs:
        started = time.perf_counter()
        labels, probabilities = infer(rows)
        samples.append(time.perf_counter() - started)
        if labels.shape != (len(rows),) or probabilities.shape[0] != len(rows):
            sys.exit(f"wrong answer shape: {labels.shape}, {probabilities.shape}")


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--single", type=int, default=2000, help="single-row calls per transport")
    parser.add_argument("--batch", type=int, default=30, help="10,000-row calls per transport")
    parser.add_argument("--rounds", type=int, default=3, help="interleaved rounds")
    args = parser.parse_args()

    rng = np.random.default_rng(0)
    batch = np.round(rng.uniform(LOW, HIGH, size=(BATCH_ROWS, 4)), 1)
    singles = [batch[i : i + 1] for i in range(1000)]

    workdir = Path(tempfile.mkdtemp(prefix="mlops-bench-"))
    artifacts = workdir / "artifacts"
    train_all(load_iris_dataset(), load_catalogue(), artifacts)
    grpc_port = free_port()
    env = {"MLOPS_GRPC_PORT": str(grpc_port), "MLOPS_ACCESS_LOG": "false"}
    try:
        with running_api(artifacts, workdir / "log.db", workers=2, extra_env=env) as url:
            http = httpclient.InferenceServerClient(url.removeprefix("http://"))
            grpc = grpcclient.InferenceServerClient(f"127.0.0.1:{grpc_port}")
            wait_for_grpc(grpc)
            check_agreement(
                {
                    "REST-JSON": rest_json(url, "v1"),
                    "REST-binary": triton(http, httpclient, "v1"),
                    "gRPC": triton(grpc, grpcclient, "v1"),
                },
                batch,
            )
            clients = {
                "REST-JSON": rest_json(url),
                "REST-binary": triton(http, httpclient),
                "gRPC": triton(grpc, grpcclient),
            }
            measure(clients, singles, batch, args)
            http.close()
            grpc.close()
    finally:
        shutil.rmtree(workdir, ignore_errors=True)


def measure(
    clients: dict[str, Infer],
    singles: list[np.ndarray],
    batch: np.ndarray,
    args: argparse.Namespace,
) -> None:
    single_n, batch_n, rounds = args.single, args.batch, args.rounds
    for infer in clients.values():  # warm up
        timed(infer, [singles[i % len(singles)] for i in range(200)], [])
        timed(infer, [batch] * 5, [])
    single: dict[str, list[float]] = {name: [] for name in clients}
    big: dict[str, list[float]] = {name: [] for name in clients}
    for r in range(rounds):  # interleaved, so a busy moment of the host hits every transport
        share = single_n // rounds + (1 if r < single_n % rounds else 0)
        batch_share = batch_n // rounds + (1 if r < batch_n % rounds else 0)
        for name, infer in clients.items():
            timed(infer, [singles[i % len(singles)] for i in range(share)], single[name])
            timed(infer, [batch] * batch_share, big[name])

    def ms(samples: list[float], q: float) -> float:
        return float(np.percentile(samples, q) * 1e3)

    base_single, base_batch = ms(single["REST-JSON"], 50), ms(big["REST-JSON"], 50)
    print(
        f"\n{single_n} single-row calls and {batch_n} calls of {BATCH_ROWS:,} rows per transport,"
        f" {rounds} interleaved rounds, one client at a time; ms as the client sees them:\n"
    )
    print(
        "| transport | 1 row p50 ms | 1 row p99 ms | 10,000 rows p50 ms | 10,000 rows p99 ms"
        " | p50 vs REST-JSON (1 row / 10,000) |"
    )
    print("|---|---:|---:|---:|---:|---:|")
    for name in clients:
        s50, b50 = ms(single[name], 50), ms(big[name], 50)
        print(
            f"| {name} | {s50:.2f} | {ms(single[name], 99):.2f} | {b50:.1f}"
            f" | {ms(big[name], 99):.1f} | {s50 / base_single:.2f}x / {b50 / base_batch:.2f}x |"
        )


if __name__ == "__main__":
    main()
