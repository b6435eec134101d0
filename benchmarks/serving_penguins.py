"""The penguins part of ``benchmarks.serving --penguins`` (issue #22): a second `mlops serve` on
the penguins example (mixed types: strings, missing values, an integer), measured through
/predict and V2 in the same interleaved wrk rounds as Iris and bare Flask, each run right after
its Iris counterpart, and a 10,000-row penguins batch. The bar: penguins /predict at least 0.8x
Iris's requests/s, read as the median of the rounds' back-to-back ratios.
"""

from __future__ import annotations

import json
import math
import statistics
import time
from pathlib import Path
from typing import Any

import requests

EXAMPLE = Path(__file__).resolve().parents[1] / "examples" / "penguins" / "model_versions.toml"
BAR = 0.8
BATCH_ROWS = 10_000
PREDICT, V2 = "penguins /predict", "penguins V2 infer"


def penguins_env(workdir: Path) -> dict[str, str]:
    """Train the penguins example into ``workdir``; the environment that serves it."""
    import palmerpenguins

    from mlops_pipeline.cli.main import main

    csv = Path(palmerpenguins.__file__).parent / "data" / "penguins.csv"
    out = workdir / "artifacts-penguins"
    args = ["train", "--data", str(csv), "--target", "species", "--versions-file", str(EXAMPLE)]
    if main([*args, "--out", str(out)]) != 0:
        raise SystemExit("training the penguins example failed")
    # No gRPC: the Iris server beside it holds the default port.
    return {"MLOPS_ARTIFACTS_DIR": str(out), "MLOPS_MODEL_NAME": "penguins", "MLOPS_GRPC_PORT": "0"}


def penguins_targets(url: str) -> dict[str, tuple[str, str]]:
    return {
        PREDICT: (url + "/predict", "post_penguins_predict.lua"),
        V2: (url + "/v2/models/penguins/infer", "post_penguins_v2.lua"),
    }


# Each penguins target and the Iris target it is compared with.
PAIRS = {PREDICT: "mlops serve /predict", V2: "mlops serve V2 infer"}


def paired_order(
    targets: dict[str, tuple[str, str]], penguins: dict[str, tuple[str, str]]
) -> dict[str, tuple[str, str]]:
    """``targets`` with each penguins target right after its Iris counterpart: a ratio of two
    runs made back to back reads one state of this shared host, where runs half a round apart
    (~40 s) may read two."""
    counterparts = {iris: name for name, iris in PAIRS.items()}
    ordered: dict[str, tuple[str, str]] = {}
    for name, target in targets.items():
        ordered[name] = target
        if name in counterparts:
            ordered[counterparts[name]] = penguins[counterparts[name]]
    return ordered


def print_ratios(medians: dict[str, float], runs: dict[str, list[float]]) -> None:
    """The ratios against Iris: per round (each pair back to back), their median (the verdict),
    and the ratio of the medians over all rounds."""
    for name, iris in PAIRS.items():
        per_round = [mine / theirs for mine, theirs in zip(runs[name], runs[iris], strict=True)]
        paired = statistics.median(per_round)
        label = f"{name} / Iris {iris.removeprefix('mlops serve ')}:"
        line = (
            f"  {label:36s} {paired:.2f}x median of rounds"
            f" {[round(ratio, 2) for ratio in per_round]};"
            f" {medians[name] / medians[iris]:.2f}x ratio of medians"
        )
        if name == PREDICT:
            line += f" ({'meets' if paired >= BAR else 'MISSES'} the {BAR}x bar)"
        print(line)
    bare = medians["bare Flask, gunicorn sync x2"]
    print(f"  penguins /predict / bare gunicorn: {medians[PREDICT] / bare:.2f}x")


def batch_rows(rows: int = BATCH_ROWS) -> list[dict[str, Any]]:
    """The CSV's rows by column name (null for missing), repeated to ``rows``."""
    import palmerpenguins

    frame = palmerpenguins.load_penguins().drop(columns="species")
    records = [
        {k: None if isinstance(v, float) and math.isnan(v) else v for k, v in row.items()}
        for row in frame.to_dict(orient="records")
    ]
    return [records[i % len(records)] for i in range(rows)]


def penguins_batch(url: str) -> None:
    body = json.dumps({"instances": batch_rows()})
    times = []
    with requests.Session() as session:
        for _ in range(6):
            started = time.perf_counter()
            response = session.post(
                url + "/predict",
                data=body,
                headers={"Content-Type": "application/json"},
                timeout=60,
            )
            times.append(time.perf_counter() - started)
            assert response.status_code == 200, response.text
    measured = times[1:]  # the first warms up
    print(
        f"10,000-row penguins batch over HTTP, JSON objects in: median"
        f" {statistics.median(measured) * 1e3:.1f} ms (min {min(measured) * 1e3:.1f},"
        f" max {max(measured) * 1e3:.1f}) over 5 requests"
    )
