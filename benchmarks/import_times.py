"""How long `mlops models import` takes per source format (issue #22): read, agree the schema,
convert to ONNX, check parity on the rows generated from the schema (200) and write the version
folder; registration (hashing, the store write) is left out, the same for every format.

Iris models for the boosters, ONNX and MLflow (tests/support/import_models.py) against Iris
artifacts; the skops Pipeline both on Iris and as the penguins ColumnTransformer pipeline
(tests/support/penguins_models.py) against the penguins example. Each the median of --runs.
Run: .venv/bin/python -m benchmarks.import_times [--runs 5]
Prints numbers; asserts nothing.
"""

from __future__ import annotations

import argparse
import json
import shutil
import statistics
import tempfile
import time
from collections.abc import Callable
from pathlib import Path

from tests.support import import_models, penguins_models

from mlops_pipeline.artifacts import ArtifactBundle, load_bundle
from mlops_pipeline.config import load_catalogue
from mlops_pipeline.importing.service import convert, served_schema
from mlops_pipeline.training.data import load_iris_dataset
from mlops_pipeline.training.trainer import train_all


def penguins_artifacts(out: Path) -> Path:
    from mlops_pipeline.cli.main import main

    versions = Path(__file__).resolve().parents[1] / "examples" / "penguins" / "model_versions.toml"
    csv = str(penguins_models.PENGUINS_CSV)
    args = ["train", "--data", csv, "--target", "species", "--versions-file", str(versions)]
    if main([*args, "--out", str(out)]) != 0:
        raise SystemExit("training the penguins example failed")
    return out


def timed(path: Path, bundle: ArtifactBundle, work: Path, runs: int, **files: Path) -> list[float]:
    times = []
    for run in range(runs):
        started = time.perf_counter()
        convert(path, "v9", bundle, work / f"out-{run}", **files)
        times.append(time.perf_counter() - started)
    return times


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--runs", type=int, default=5, help="imports of each format")
    args = parser.parse_args()
    work = Path(tempfile.mkdtemp(prefix="mlops-import-bench-"))
    try:
        iris = load_iris_dataset()
        train_all(iris, load_catalogue(), work / "iris")
        iris_bundle = load_bundle(work / "iris")
        penguins_bundle = load_bundle(penguins_artifacts(work / "penguins"))
        schema_file = work / "schema.json"
        schema_file.write_text(json.dumps(served_schema(iris_bundle).to_json()))
        (work / "pipeline").mkdir()
        cases: dict[str, tuple[Callable[[], Path], ArtifactBundle, dict[str, Path]]] = {
            "skops Pipeline, penguins (ColumnTransformer + forest)": (
                lambda: penguins_models.skops_pipeline(work / "pipeline"), penguins_bundle, {}
            ),
            "skops Pipeline, Iris (scaler + forest)": (
                lambda: import_models.skops_pipeline(iris, work), iris_bundle, {}
            ),
            "XGBoost JSON booster": (
                lambda: import_models.xgboost_booster(iris, work), iris_bundle, {}
            ),
            "XGBoost UBJ booster": (
                lambda: import_models.xgboost_booster(iris, work, "model.ubj"), iris_bundle, {}
            ),
            "LightGBM text model": (
                lambda: import_models.lightgbm_text(iris, work), iris_bundle, {}
            ),
            "ONNX file + schema": (
                lambda: work / "iris" / "v1" / "model.onnx",
                iris_bundle,
                {"schema_file": schema_file},
            ),
            "MLflow directory (xgboost flavour)": (
                lambda: import_models.mlflow_xgboost(iris, work), iris_bundle, {}
            ),
        }  # fmt: skip
        print(f"`mlops models import` without registration, median of {args.runs} runs:")
        for name, (build, bundle, files) in cases.items():
            times = timed(build(), bundle, work, args.runs, **files)
            print(
                f"  {name:55s} median {statistics.median(times) * 1e3:7.0f} ms"
                f"   (min {min(times) * 1e3:.0f}, max {max(times) * 1e3:.0f})"
            )
    finally:
        shutil.rmtree(work, ignore_errors=True)


if __name__ == "__main__":
    main()
