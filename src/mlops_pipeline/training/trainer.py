"""Train every catalogued model version, evaluate it, and write its artifacts."""

from __future__ import annotations

import json
import platform
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
from mlops_pipeline.catalogue import ModelVersionSpec, VersionCatalogue, normalise_weights
from mlops_pipeline.serving.inference import OnnxPredictor
from mlops_pipeline.training.data import Dataset
from mlops_pipeline.training.estimators import ALGORITHMS
from mlops_pipeline.training.onnx_export import (
    PARITY_TOLERANCE,
    Parity,
    measure_parity,
    to_onnx,
)

QUANTILES = (0.01, 0.05, 0.1, 0.25, 0.5, 0.75, 0.9, 0.95, 0.99)
# Below this many training rows the rows themselves are kept for two-sample drift tests.
MAX_REFERENCE_SAMPLE = 5_000
LIBRARIES = ("scikit-learn", "skl2onnx", "onnx", "onnxruntime", "skops", "numpy")


@dataclass(frozen=True)
class VersionReport:
    name: str
    accuracy: float
    macro_f1: float
    max_probability_diff: float


@dataclass(frozen=True)
class Split:
    train_x: NDArray[np.float64]
    test_x: NDArray[np.float64]
    train_y: NDArray[np.int64]
    test_y: NDArray[np.int64]


def split_dataset(dataset: Dataset, test_size: float, seed: int) -> Split:
    from sklearn.model_selection import train_test_split

    train_x, test_x, train_y, test_y = train_test_split(
        dataset.features,
        dataset.labels,
        test_size=test_size,
        stratify=dataset.labels,
        random_state=seed,
    )
    return Split(train_x, test_x, train_y, test_y)


def build_estimator(spec: ModelVersionSpec, seed: int) -> Any:
    try:
        factory = ALGORITHMS[spec.algorithm]
    except KeyError:
        raise ValueError(
            f"version {spec.name}: unknown algorithm {spec.algorithm!r};"
            f" known: {sorted(ALGORITHMS)}"
        ) from None
    return factory(spec.params, seed)


def evaluate(model: Any, split: Split, class_names: tuple[str, ...]) -> dict[str, Any]:
    return scores(split.test_y, model.predict(split.test_x), class_names)


def scores(
    test_y: NDArray[np.int64], predicted: Any, class_names: tuple[str, ...]
) -> dict[str, Any]:
    """Accuracy, macro-F1, the per-class report and the confusion matrix of test predictions."""
    from sklearn.metrics import accuracy_score, classification_report, confusion_matrix, f1_score

    labels = list(range(len(class_names)))
    return {
        "accuracy": float(accuracy_score(test_y, predicted)),
        "macro_f1": float(f1_score(test_y, predicted, average="macro", labels=labels)),
        "per_class": classification_report(
            test_y,
            predicted,
            labels=labels,
            target_names=list(class_names),
            output_dict=True,
            zero_division=0,
        ),
        "confusion_matrix": confusion_matrix(test_y, predicted, labels=labels).tolist(),
    }


def out_of_fold_class_shares(
    spec: ModelVersionSpec, split: Split, n_classes: int, seed: int
) -> list[float]:
    """Share of each predicted class on rows the model did not fit.

    A forest predicts its own training rows almost perfectly, so the predicted-class reference
    for drift detection comes from cross-validated predictions instead.
    """
    from sklearn.model_selection import StratifiedKFold, cross_val_predict

    folds = min(5, int(np.bincount(split.train_y).min()))
    if folds < 2:
        counts = np.bincount(split.train_y, minlength=n_classes)
    else:
        cv = StratifiedKFold(n_splits=folds, shuffle=True, random_state=seed)
        predicted = cross_val_predict(
            build_estimator(spec, seed), split.train_x, split.train_y, cv=cv
        )
        counts = np.bincount(predicted, minlength=n_classes)
    return [float(share) for share in counts / counts.sum()]


def reference_statistics(dataset: Dataset, split: Split) -> dict[str, Any]:
    train = split.train_x
    per_feature = {}
    for column, name in enumerate(dataset.feature_names):
        values = train[:, column]
        per_feature[name] = {
            "mean": float(values.mean()),
            "std": float(values.std(ddof=1)),
            "min": float(values.min()),
            "max": float(values.max()),
            "quantiles": {str(q): float(np.quantile(values, q)) for q in QUANTILES},
        }
    class_counts = np.bincount(split.train_y, minlength=len(dataset.class_names))
    return {
        "feature_names": list(dataset.feature_names),
        "class_names": list(dataset.class_names),
        "n_rows": len(train),
        "features": per_feature,
        "class_shares": [float(share) for share in class_counts / class_counts.sum()],
        "sample": train.tolist() if len(train) <= MAX_REFERENCE_SAMPLE else None,
    }


def library_versions() -> dict[str, str]:
    versions = {"python": platform.python_version()}
    for name in LIBRARIES:
        try:
            versions[name] = package_metadata.version(name)
        except package_metadata.PackageNotFoundError:
            versions[name] = "not installed"
    return versions


def train_all(
    dataset: Dataset,
    catalogue: VersionCatalogue,
    out_dir: Path,
    now: datetime | None = None,
    only: list[str] | None = None,
) -> list[VersionReport]:
    """Train every version (or those in ``only``) into a fresh folder, then swap it in place of
    ``out_dir``. With ``only``, the versions already in ``out_dir`` are carried over untouched,
    and a version new to the folder gets default weight 0 (a rollout gives it traffic)."""
    created_at = (now or datetime.now(UTC)).isoformat()
    split = split_dataset(dataset, catalogue.test_size, catalogue.seed)
    specs = list(catalogue.versions)
    weights = catalogue.default_weights()
    carried: dict[str, Any] = {}
    if only is not None:
        unknown = sorted(set(only) - {spec.name for spec in specs})
        if unknown:
            raise ValueError(f"--only names versions not in the catalogue: {unknown}")
        specs = [spec for spec in specs if spec.name in only]
        carried = _existing_manifest(out_dir)
    kept = files_to_keep(out_dir)  # refuses a folder this command did not write
    out_dir.parent.mkdir(parents=True, exist_ok=True)
    staging = Path(tempfile.mkdtemp(prefix=f".{out_dir.name}-", dir=out_dir.parent))
    try:
        stats = reference_statistics(dataset, split)
        stats["predicted_class_shares"] = {}
        names = [spec.name for spec in specs]
        if carried:
            old_names = [name for name in carried["versions"] if name not in names]
            weights = {
                **{name: carried["default_weights"].get(name, 0.0) for name in old_names},
                **{name: carried["default_weights"].get(name, 0.0) for name in names},
            }
            if not any(weights.values()):
                weights = {name: 1.0 / len(weights) for name in weights}
            old_stats = json.loads((out_dir / artifacts.TRAINING_STATS).read_text("utf-8"))
            for name in old_names:
                shutil.copytree(out_dir / name, staging / name)
                shares = old_stats.get("predicted_class_shares", {}).get(name)
                if shares is not None:
                    stats["predicted_class_shares"][name] = shares
            names = old_names + names
        elif only is not None:  # a folder of candidates: their split is never served as is
            raw = {spec.name: spec.weight for spec in specs}
            weights = normalise_weights(raw if any(raw.values()) else dict.fromkeys(raw, 1.0))
        reports = []
        for spec in specs:
            report, shares = _train_version(
                spec, dataset, split, catalogue, staging, created_at, weights[spec.name]
            )
            stats["predicted_class_shares"][spec.name] = shares
            reports.append(report)
        artifacts.write_json(staging / artifacts.TRAINING_STATS, stats)
        artifacts.write_manifest(staging, names, weights)
        for relative in kept:  # not ours: carried over untouched, outside the manifest
            destination = staging / relative
            if not destination.exists():
                destination.parent.mkdir(parents=True, exist_ok=True)
                shutil.copy2(out_dir / relative, destination)
        _replace_dir(staging, out_dir)
    finally:
        shutil.rmtree(staging, ignore_errors=True)
    return reports


def _existing_manifest(out_dir: Path) -> dict[str, Any]:
    """The manifest of an artifacts folder ``--only`` adds to, verified; {} for a new folder."""
    if not (out_dir / artifacts.MANIFEST).is_file():
        return {}
    manifest: dict[str, Any] = artifacts.verify_files(out_dir)
    return manifest


@dataclass(frozen=True)
class Exported:
    model: Any
    onnx_bytes: bytes
    parity: Parity


def fit_and_export(
    spec: ModelVersionSpec,
    seed: int,
    train_x: NDArray[np.float64],
    train_y: NDArray[np.int64],
    check_x: NDArray[np.float64],
) -> Exported:
    """Fit, export to ONNX, and refuse an export that disagrees with scikit-learn on
    ``check_x`` (serving runs the ONNX model, so a mismatch would serve another model)."""
    model = build_estimator(spec, seed).fit(train_x, train_y)
    onnx_bytes = to_onnx(model, train_x.shape[1])
    parity = measure_parity(model, OnnxPredictor(spec.name, onnx_bytes), check_x)
    if parity.class_agreement < 1.0 or parity.max_probability_diff > PARITY_TOLERANCE:
        raise RuntimeError(
            f"version {spec.name}: ONNX export disagrees with scikit-learn: {parity}"
        )
    return Exported(model, onnx_bytes, parity)


def write_version(folder: Path, exported: Exported, metadata: dict[str, Any]) -> None:
    """The version's files plus its metadata (with their hashes and the parity measured)."""
    artifacts.save_skops(exported.model, folder / artifacts.MODEL_SKOPS)
    (folder / artifacts.MODEL_ONNX).write_bytes(exported.onnx_bytes)
    parity = exported.parity
    artifacts.write_json(
        folder / artifacts.METADATA,
        {
            **metadata,
            "onnx_parity_on_test_split": {
                "rows": parity.rows,
                "class_agreement": parity.class_agreement,
                "max_probability_diff": parity.max_probability_diff,
            },
            "library_versions": library_versions(),
            "files": {
                name: artifacts.sha256_file(folder / name)
                for name in (artifacts.MODEL_SKOPS, artifacts.MODEL_ONNX)
            },
        },
    )


def _train_version(
    spec: ModelVersionSpec,
    dataset: Dataset,
    split: Split,
    catalogue: VersionCatalogue,
    root: Path,
    created_at: str,
    weight: float,
) -> tuple[VersionReport, list[float]]:
    exported = fit_and_export(spec, catalogue.seed, split.train_x, split.train_y, split.test_x)
    evaluation = evaluate(exported.model, split, dataset.class_names)
    shares = out_of_fold_class_shares(spec, split, len(dataset.class_names), catalogue.seed)
    write_version(
        root / spec.name,
        exported,
        {
            "version": spec.name,
            "algorithm": spec.algorithm,
            "params": {**spec.params, "random_state": catalogue.seed},
            "default_weight": weight,
            "evaluation": evaluation,
            "feature_names": list(dataset.feature_names),
            "class_names": list(dataset.class_names),
            "training_data": {
                "source": dataset.source,
                "sha256": dataset.content_hash(),
                "rows": len(dataset.labels),
                "train_rows": len(split.train_y),
                "test_rows": len(split.test_y),
                "test_size": catalogue.test_size,
                "seed": catalogue.seed,
            },
            "created_at": created_at,
        },
    )
    report = VersionReport(
        spec.name,
        evaluation["accuracy"],
        evaluation["macro_f1"],
        exported.parity.max_probability_diff,
    )
    return report, shares


def files_to_keep(out_dir: Path) -> list[Path]:
    """Files in ``out_dir`` that an earlier `mlops train` did not write (they survive a retrain).

    Raises ValueError for a non-empty folder without a manifest: it is not an artifacts folder,
    and replacing it would delete whatever it holds.
    """
    if not out_dir.exists():
        return []
    if not out_dir.is_dir():
        raise ValueError(f"{out_dir} exists and is not a folder")
    entries = list(out_dir.iterdir())
    if not entries:
        return []
    manifest_path = out_dir / artifacts.MANIFEST
    if not manifest_path.is_file():
        raise ValueError(
            f"{out_dir} is not empty and holds no {artifacts.MANIFEST}: it is not an artifacts"
            " folder, so training will not replace it; choose an empty or new folder"
        )
    try:
        manifest = json.loads(manifest_path.read_text("utf-8"))
        written = set(manifest["files"])
    except (ValueError, KeyError, TypeError) as exc:
        raise ValueError(f"{manifest_path} is unreadable ({exc}); refusing to replace") from None
    return [
        path.relative_to(out_dir)
        for path in sorted(out_dir.rglob("*"))
        if path.is_file()
        and path.name != artifacts.MANIFEST
        and path.relative_to(out_dir).as_posix() not in written
    ]


def _replace_dir(new: Path, target: Path) -> None:
    # Rename is atomic per directory entry: readers see the old folder or the new, never a mix.
    backup = target.with_name(f".{target.name}-old")
    shutil.rmtree(backup, ignore_errors=True)
    if target.exists():
        target.rename(backup)
    new.rename(target)
    shutil.rmtree(backup, ignore_errors=True)
