"""Where a single-row /predict spends its time, in-process (no socket), stage by stage.

Each stage is timed on its own over many calls with the production objects (ONNX Runtime, the
SQLite log in WAL mode, multiprocess metrics in a temporary folder, the JSON access log to
/dev/null). "whole request" runs the WSGI app: once through the fast path the app ships with,
and once through Flask's routing (what every request paid before). Prints microseconds; asserts
nothing.

Run: .venv/bin/python -m benchmarks.request_stages [--iterations 20000]
"""

from __future__ import annotations

import argparse
import io
import json
import os
import statistics
import sys
import tempfile
import time
from collections.abc import Callable
from pathlib import Path

METRICS_DIR = tempfile.mkdtemp(prefix="mlops-stages-metrics-")
os.environ["PROMETHEUS_MULTIPROC_DIR"] = METRICS_DIR  # read when prometheus_client is imported

import numpy as np  # noqa: E402
import orjson  # noqa: E402

from mlops_pipeline.api.inference import dumps  # noqa: E402
from mlops_pipeline.config import Settings, load_catalogue  # noqa: E402
from mlops_pipeline.processes import build_app  # noqa: E402
from mlops_pipeline.serving.validation import parse_predict_request  # noqa: E402
from mlops_pipeline.storage.records import PredictionBatch  # noqa: E402
from mlops_pipeline.storage.schema import upgrade  # noqa: E402
from mlops_pipeline.training.data import load_iris_dataset  # noqa: E402
from mlops_pipeline.training.trainer import train_all  # noqa: E402

BODY = b'{"features": [5.1, 3.5, 1.4, 0.2]}'


def time_us(call: Callable[[], object], iterations: int) -> float:
    for _ in range(min(1000, iterations)):
        call()
    samples = []
    for _ in range(5):
        started = time.perf_counter()
        for _ in range(iterations // 5):
            call()
        samples.append((time.perf_counter() - started) / (iterations // 5) * 1e6)
    return statistics.median(samples)


def environ() -> dict[str, object]:
    return {
        "REQUEST_METHOD": "POST",
        "PATH_INFO": "/predict",
        "SERVER_NAME": "bench",
        "SERVER_PORT": "80",
        "SERVER_PROTOCOL": "HTTP/1.1",
        "wsgi.url_scheme": "http",
        "CONTENT_TYPE": "application/json",
        "CONTENT_LENGTH": str(len(BODY)),
        "wsgi.input": io.BytesIO(BODY),
        "wsgi.errors": sys.stderr,
        "REMOTE_ADDR": "127.0.0.1",
    }


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--iterations", type=int, default=20_000)
    args = parser.parse_args()
    n = args.iterations
    work = Path(tempfile.mkdtemp(prefix="mlops-stages-"))
    train_all(load_iris_dataset(), load_catalogue(), work / "artifacts")
    upgrade(f"sqlite:///{work / 'log.db'}")
    settings = Settings(artifacts_dir=work / "artifacts", db_path=work / "log.db")
    os.dup2(os.open(os.devnull, os.O_WRONLY), 2)  # the access log writes to fd 2
    app = build_app(settings)
    fast = app.wsgi_app
    through_flask = fast._app  # type: ignore[attr-defined]  # FastPath's next app: Flask's own
    endpoints = fast._endpoints  # type: ignore[attr-defined]
    service = endpoints._service
    features = service.feature_names
    parsed = parse_predict_request(orjson.loads(BODY), features, 10_000)
    predictor = service._predictors["v2"]
    counter = iter(range(10**9))

    def start_response(status: str, headers: list[tuple[str, str]]) -> None:
        pass

    def whole(wsgi: Callable[..., object]) -> Callable[[], object]:
        return lambda: b"".join(wsgi(environ(), start_response))  # type: ignore[call-overload]

    result = service.predict(parsed, "warm")
    classes, probabilities = result.classes, result.probabilities
    body = {
        "request_id": "x" * 32,
        "prediction": 0,
        "class_name": "setosa",
        "probabilities": result.probabilities[0],
        "model_version": "v2",
        "latency_ms": 0.05,
    }
    stages = {
        "parse JSON (orjson)": lambda: orjson.loads(BODY),
        "parse JSON (json, before)": lambda: json.loads(BODY),
        "validate": lambda: parse_predict_request(orjson.loads(BODY), features, 10_000),
        "route (A/B router)": lambda: service.router.choose(None),
        "ONNX Runtime": lambda: predictor.predict(parsed.rows),
        "route + ONNX + log insert + metrics (service.predict)": lambda: service.predict(
            parsed, f"r{next(counter)}"
        ),
        "log insert (SQLite, WAL)": lambda: service._store.append(
            PredictionBatch(
                f"s{next(counter)}", 1.0, "v2", None, parsed.rows, classes, probabilities, 0.1
            )
        ),
        "metrics (request counter and histogram)": lambda: service.metrics.observe_request(
            "/predict", "POST", 200, 0.001
        ),
        "access log line": lambda: fast._log.request(  # type: ignore[attr-defined]
            "x" * 32, "POST", "/predict", 200, 0.1, "127.0.0.1", "v2"
        ),
        "serialize (orjson)": lambda: dumps(body),
        "serialize (json, before)": lambda: json.dumps(
            {**body, "probabilities": body["probabilities"].tolist()}, separators=(",", ":")
        ),
        "whole request, fast path (as shipped)": whole(fast),
        "whole request through Flask (before)": whole(through_flask),
    }
    print(f"single-row POST /predict in-process, median of 5 x {n // 5} calls, microseconds:")
    for name, call in stages.items():
        print(f"  {name:55s} {time_us(call, n):8.1f}")
    rows = np.asarray(parsed.rows)
    assert rows.shape == (1, 4)


if __name__ == "__main__":
    main()
