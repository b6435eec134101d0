"""Train every catalogued version on mixed-type data: schema-built preprocessing + estimator.

The artifacts folder has today's layout and manifest (``artifacts.py``), so ``verify_files`` and
``load_bundle`` read it as any other; what is new is in the files:

- each version's ``model.skops`` is the whole ``Pipeline`` and its ``model.onnx`` has one named,
  typed input per column (``serving/feed.py`` builds the feed);
- metadata.json carries ``"schema"`` (``FeatureSchema.to_json()``) beside today's fields, the
  parity measured on the training sample as well as the test split, and the converters' versions;
- training_stats.json describes numeric columns as today, string columns by category shares,
  every column's missing share, and keeps the training rows column by column (``typed_sample``,
  JSON null for missing) instead of today's float ``sample``, which typed rows do not fit.

Every version is refused unless its ONNX model agrees with the fitted pipeline on every training
and test row (class and probabilities within ``PARITY_TOLERANCE``): serving runs the ONNX model.
"""

from __future__ import annotations

import shutil
import tempfile
from dataclasses import dataclass
from datetime import UTC, datetime
from importlib import metadata as package_metadata
from pathlib import Path
from typing import Any

import numpy as np
from numpy.typing import NDArray

from mlops_pipeline import artifacts
from mlops_pipeline.catalogue import ModelVersionSpec, VersionCatalogue
from mlops_pipeline.training.onnx_export import PARITY_TOLERANCE, Parity
from mlops_pipeline.training.preprocess import build_pipeline, pipeline_frame
from mlops_pipeline.training.trainer import (
    MAX_REFERENCE_SAMPLE,
    QUANTILES,
    Exported,
    VersionReport,
    _replace_dir,
    build_estimator,
    files_to_keep,
    scores,
    write_version,
)
from mlops_pipeline.training.typed_data import TypedDataset
from mlops_pipeline.training.typed_export import measure_typed_parity, typed_to_onnx

CONVERTERS = ("skl2onnx", "onnxmltools", "xgboost", "lightgbm")


@dataclass(frozen=True)
class TypedSplit:
    train: Any  # pandas.DataFrame, the schema's columns as read
    test: Any
    train_y: NDArray[np.int64]
    test_y: NDArray[np.int64]


def train_typed(
    dataset: TypedDataset, catalogue: VersionCatalogue, out_dir: Path, now: datetime | None = None
) -> list[VersionReport]:
    """Train every version into a fresh folder, then swap it in place of ``out_dir`` (as
    ``trainer.train_all`` does, and refusing a non-empty folder it did not write)."""
    from sklearn.model_selection import train_test_split
    from threadpoolctl import threadpool_limits

    created_at = (now or datetime.now(UTC)).isoformat()
    train_rows, test_rows = train_test_split(
        np.arange(len(dataset.labels)),
        test_size=catalogue.test_size,
        stratify=dataset.labels,
        random_state=catalogue.seed,
    )
    split = TypedSplit(
        dataset.frame.iloc[train_rows].reset_index(drop=True),
        dataset.frame.iloc[test_rows].reset_index(drop=True),
        dataset.labels[train_rows],
        dataset.labels[test_rows],
    )
    weights = catalogue.default_weights()
    kept = files_to_keep(out_dir)
    out_dir.parent.mkdir(parents=True, exist_ok=True)
    staging = Path(tempfile.mkdtemp(prefix=f".{out_dir.name}-", dir=out_dir.parent))
    try:
        stats = reference_statistics(dataset, split.train, split.train_y)
        # One OpenMP thread: HistGradientBoosting (it has no n_jobs) otherwise starts one per
        # core, and on a busy 2-core machine its fit took 10 s instead of 0.6 s.
        with threadpool_limits(limits=1, user_api="openmp"):
            reports = []
            for spec in catalogue.versions:
                folder = staging / spec.name
                report, shares = _train_version(
                    spec, catalogue, dataset, split, folder, weights[spec.name], created_at
                )
                stats["predicted_class_shares"][spec.name] = shares
                reports.append(report)
        artifacts.write_json(staging / artifacts.TRAINING_STATS, stats)
        artifacts.write_manifest(staging, [spec.name for spec in catalogue.versions], weights)
        for relative in kept:  # not ours: carried over untouched, outside the manifest
            destination = staging / relative
            destination.parent.mkdir(parents=True, exist_ok=True)
            shutil.copy2(out_dir / relative, destination)
        _replace_dir(staging, out_dir)
    finally:
        shutil.rmtree(staging, ignore_errors=True)
    return reports


def _train_version(
    spec: ModelVersionSpec,
    catalogue: VersionCatalogue,
    dataset: TypedDataset,
    split: TypedSplit,
    folder: Path,
    weight: float,
    created_at: str,
) -> tuple[VersionReport, list[float]]:
    seed = catalogue.seed
    exported, parity = fit_typed(spec, seed, dataset, split.train, split.train_y, split.test)
    predicted = exported.model.predict(pipeline_frame(dataset.schema, split.test))
    evaluation = scores(split.test_y, predicted, dataset.class_names)
    shares = out_of_fold_shares(spec, seed, dataset, split.train, split.train_y)
    write_version(
        folder,
        exported,
        {
            "version": spec.name,
            "algorithm": spec.algorithm,
            "params": {**spec.params, "random_state": seed},
            "default_weight": weight,
            "evaluation": evaluation,
            "feature_names": dataset.schema.names,
            "class_names": list(dataset.class_names),
            "schema": dataset.schema.to_json(),
            "training_data": {
                "source": dataset.source,
                "sha256": dataset.sha256,
                "rows": len(dataset.labels),
                "train_rows": len(split.train_y),
                "test_rows": len(split.test_y),
                "test_size": catalogue.test_size,
                "seed": seed,
            },
            "onnx_parity_on_training_sample": _parity_json(parity),
            "converter_versions": _versions(CONVERTERS),
            "created_at": created_at,
        },
    )
    worst = max(parity.max_probability_diff, exported.parity.max_probability_diff)
    report = VersionReport(spec.name, evaluation["accuracy"], evaluation["macro_f1"], worst)
    return report, shares


def fit_typed(
    spec: ModelVersionSpec,
    seed: int,
    dataset: TypedDataset,
    train: Any,
    train_y: NDArray[np.int64],
    test: Any,
) -> tuple[Exported, Parity]:
    """The fitted pipeline and its ONNX export (parity on the test split), and the parity on
    the training sample; RuntimeError when either disagrees beyond the tolerance."""
    schema = dataset.schema
    pipeline = build_pipeline(schema, build_estimator(spec, seed), spec.algorithm)
    pipeline.fit(pipeline_frame(schema, train), train_y)
    onnx_bytes = typed_to_onnx(pipeline, schema)
    on_train = measure_typed_parity(pipeline, onnx_bytes, schema, train)
    on_test = measure_typed_parity(pipeline, onnx_bytes, schema, test)
    for where, parity in (("training sample", on_train), ("test split", on_test)):
        if parity.class_agreement < 1.0 or parity.max_probability_diff > PARITY_TOLERANCE:
            raise RuntimeError(
                f"version {spec.name}: ONNX export disagrees with scikit-learn on the {where}:"
                f" {parity}"
            )
    return Exported(pipeline, onnx_bytes, on_test), on_train


def out_of_fold_shares(
    spec: ModelVersionSpec,
    seed: int,
    dataset: TypedDataset,
    train: Any,
    train_y: NDArray[np.int64],
) -> list[float]:
    """Predicted-class shares on rows each fold's model did not fit (see trainer's twin)."""
    from sklearn.model_selection import StratifiedKFold, cross_val_predict

    n_classes = len(dataset.class_names)
    folds = min(5, int(np.bincount(train_y).min()))
    if folds < 2:
        counts = np.bincount(train_y, minlength=n_classes)
    else:
        cv = StratifiedKFold(n_splits=folds, shuffle=True, random_state=seed)
        pipeline = build_pipeline(dataset.schema, build_estimator(spec, seed), spec.algorithm)
        predicted = cross_val_predict(
            pipeline, pipeline_frame(dataset.schema, train), train_y, cv=cv
        )
        counts = np.bincount(predicted, minlength=n_classes)
    return [float(share) for share in counts / counts.sum()]


def reference_statistics(
    dataset: TypedDataset, train: Any, train_y: NDArray[np.int64]
) -> dict[str, Any]:
    features: dict[str, Any] = {}
    categories: dict[str, Any] = {}
    for column in dataset.schema.columns:
        values = train[column.name]
        present = values.dropna()
        missing_share = float(1 - len(present) / len(values))
        if column.type == "string":
            shares = present.astype(str).value_counts(normalize=True).sort_index()
            categories[column.name] = {
                "shares": {str(k): float(v) for k, v in shares.items()},
                "missing_share": missing_share,
            }
            continue
        numbers = present.astype("float64").to_numpy()
        features[column.name] = {
            "mean": float(numbers.mean()),
            "std": float(numbers.std(ddof=1)),
            "min": float(numbers.min()),
            "max": float(numbers.max()),
            "quantiles": {str(q): float(np.quantile(numbers, q)) for q in QUANTILES},
            "missing_share": missing_share,
        }
    class_counts = np.bincount(train_y, minlength=len(dataset.class_names))
    sample = None
    if len(train) <= MAX_REFERENCE_SAMPLE:
        sample = {
            name: [None if _is_missing(v) else v for v in train[name].tolist()]
            for name in dataset.schema.names
        }
    return {
        "feature_names": dataset.schema.names,
        "class_names": list(dataset.class_names),
        "schema": dataset.schema.to_json(),
        "n_rows": len(train),
        "features": features,
        "categories": categories,
        "class_shares": [float(share) for share in class_counts / class_counts.sum()],
        "predicted_class_shares": {},
        "sample": None,  # today's float rows: typed rows are in typed_sample
        "typed_sample": sample,
    }


def _is_missing(value: object) -> bool:
    return value is None or (isinstance(value, float) and value != value)


def _parity_json(parity: Parity) -> dict[str, float | int]:
    return {
        "rows": parity.rows,
        "class_agreement": parity.class_agreement,
        "max_probability_diff": parity.max_probability_diff,
    }


def _versions(names: tuple[str, ...]) -> dict[str, str]:
    found = {}
    for name in names:
        try:
            found[name] = package_metadata.version(name)
        except package_metadata.PackageNotFoundError:
            found[name] = "not installed"
    return found
