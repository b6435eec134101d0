"""Retraining a typed (mixed-type) model: the base CSV plus labelled typed production rows.

The same steps as an all-numeric retrain (service.py), on frames instead of float arrays: the
logged rows (objects by column name, null where missing) become a frame with the schema's
columns, the candidate is the served schema's pipeline (training/typed_trainer.py's
``fit_typed``: impute, one-hot, the champion's estimator) exported to ONNX with one named input
per column, and both the candidate and the champion answer the holdout through ONNX Runtime, as
serving would. The served schema, not one inferred again from the CSV, is what the candidate is
built on: every version served side by side must share it.
"""

from __future__ import annotations

import hashlib
from collections.abc import Callable
from dataclasses import dataclass, replace
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import numpy as np
from numpy.typing import NDArray

from mlops_pipeline import artifacts
from mlops_pipeline.catalogue import ModelVersionSpec
from mlops_pipeline.retraining.candidate import Lineage, lineage_of
from mlops_pipeline.retraining.champion import Champion, RetrainRefused
from mlops_pipeline.retraining.comparison import Comparison, compare
from mlops_pipeline.schema.model import FeatureSchema
from mlops_pipeline.serving.feed import onnx_feed
from mlops_pipeline.storage.labels import TypedLabelledRows
from mlops_pipeline.storage.records import RetrainRun
from mlops_pipeline.training.data import DataError
from mlops_pipeline.training.trainer import MAX_REFERENCE_SAMPLE, Exported, write_version
from mlops_pipeline.training.typed_data import TypedDataset, load_typed_csv
from mlops_pipeline.training.typed_trainer import (
    CONVERTERS,
    _versions,
    fit_typed,
    reference_statistics,
)


def typed_base(champion: Champion, schema: FeatureSchema, path: Path | None) -> TypedDataset:
    """The champion's base CSV, read with the served schema (its target is the schema's).

    The lineage names the file (``csv:<name>`` and its SHA-256) but a CSV is not bundled as
    Iris is, so the CLI passes it (--base-data); the hash then says whether it is the same data.
    """
    source = champion.metadata.base_data_source
    if path is None:
        raise RetrainRefused(
            f"{champion.version} was trained on {source or 'unrecorded data'};"
            " pass --base-data CSV with that data"
        )
    try:
        dataset = load_typed_csv(path, schema.task.target)
    except DataError as exc:
        raise RetrainRefused(str(exc)) from exc
    found = (tuple(dataset.schema.names), dataset.class_names)
    if found != (tuple(schema.names), schema.task.classes):
        raise RetrainRefused(
            f"the base data has columns {list(found[0])} and classes {list(found[1])};"
            f" the served model uses {schema.names} and {list(schema.task.classes)}"
        )
    return replace(dataset, schema=schema)


def frame_of(schema: FeatureSchema, rows: list[dict[str, Any]]) -> Any:
    """Logged rows as the frame training reads: the schema's columns, NaN/None where missing
    (a column an old row lacks is missing)."""
    import pandas as pd

    return pd.DataFrame({name: [row.get(name) for row in rows] for name in schema.names})


def onnx_classes(onnx_bytes: bytes, schema: FeatureSchema, frame: Any) -> NDArray[np.int64]:
    """The class indices an ONNX model answers for ``frame``, fed as serving feeds it."""
    import onnxruntime

    session = onnxruntime.InferenceSession(onnx_bytes, providers=["CPUExecutionProvider"])
    feed = onnx_feed(schema, {name: frame[name].tolist() for name in schema.names})
    return np.asarray(session.run(None, feed)[0], dtype=np.int64)


@dataclass(frozen=True)
class TypedCandidate:
    exported: Exported
    frame: Any  # what it learnt: the base rows, then the production training rows
    labels: NDArray[np.int64]
    predicted: NDArray[np.int64]  # its classes on the holdout
    answered: NDArray[np.int64]  # the champion's


def fit_candidate(
    spec: ModelVersionSpec,
    seed: int,
    base: TypedDataset,
    train: TypedLabelledRows,
    holdout: TypedLabelledRows,
    champion: Champion,
) -> TypedCandidate:
    """Fit on base + production training rows; parity checked on the holdout and base rows
    (fit_typed refuses a disagreeing export); both models then answer the holdout."""
    import pandas as pd

    schema = base.schema
    frame = pd.concat([base.frame, frame_of(schema, train.rows)], ignore_index=True)
    labels = np.concatenate([base.labels, train.labels]).astype(np.int64)
    held = frame_of(schema, holdout.rows)
    check = pd.concat([held, base.frame], ignore_index=True)
    try:
        exported, _ = fit_typed(spec, seed, base, frame, labels, check)
    except RuntimeError as exc:  # an export that disagrees is not registered
        raise RetrainRefused(str(exc)) from exc
    predicted = onnx_classes(exported.onnx_bytes, schema, held)
    answered = onnx_classes(champion.onnx_bytes, schema, held)
    return TypedCandidate(exported, frame, labels, predicted, answered)


def typed_drift_reference(
    base: TypedDataset,
    train: TypedLabelledRows,
    holdout_rows: int,
    predicted: dict[str, NDArray[np.int64]],
) -> dict[str, Any]:
    """As candidate.drift_reference: the newest production rows it learnt, and each version's
    predicted-class shares on the holdout; ``predicted_class_rows`` says how many rows those
    shares were measured on (the typed class test weighs the reference's noise by it)."""
    newest = max(0, len(train.labels) - MAX_REFERENCE_SAMPLE)
    frame = frame_of(base.schema, train.rows[newest:])
    stats = reference_statistics(base, frame, train.labels[newest:])
    n_classes = len(base.class_names)
    stats["predicted_class_shares"] = {
        version: [float(x) for x in np.bincount(classes, minlength=n_classes) / len(classes)]
        for version, classes in predicted.items()
    }
    stats["predicted_class_rows"] = holdout_rows
    return stats


def write_typed_folder(
    folder: Path,
    version: str,
    spec: ModelVersionSpec,
    seed: int,
    base: TypedDataset,
    candidate: TypedCandidate,
    lineage: Lineage,
    now: float,
    stats: dict[str, Any],
) -> None:
    """A one-version artifacts folder `mlops models register` accepts, with the schema."""
    learnt = candidate.frame.assign(_label=candidate.labels).to_csv(index=False).encode()
    write_version(
        folder / version,
        candidate.exported,
        {
            "version": version,
            "algorithm": spec.algorithm,
            "params": {**spec.params, "random_state": seed},
            "default_weight": 0.0,
            "evaluation": {"holdout": lineage.comparison.to_json()},
            "feature_names": base.schema.names,
            "class_names": list(base.class_names),
            "schema": base.schema.to_json(),
            "training_data": {
                "source": f"retrain: {base.source} + production labels",
                "sha256": hashlib.sha256(learnt).hexdigest(),
                "rows": len(candidate.labels),
                "train_rows": len(candidate.labels),
                "test_rows": len(candidate.predicted),
            },
            "converter_versions": _versions(CONVERTERS),
            "created_at": datetime.fromtimestamp(now, UTC).isoformat(),
            "lineage": lineage.to_json(),
        },
    )
    artifacts.write_json(folder / artifacts.TRAINING_STATS, stats)
    artifacts.write_manifest(folder, [version], {version: 1.0})


@dataclass(frozen=True)
class TypedRun:
    """What service.py hands over once the rows are read and split."""

    run: RetrainRun
    version: str
    spec: ModelVersionSpec
    seed: int
    champion: Champion
    base: TypedDataset
    rows: TypedLabelledRows
    duplicates: int
    train: TypedLabelledRows
    holdout: TypedLabelledRows
    since: float
    now: float


def typed_candidate(job: TypedRun) -> tuple[Comparison, Lineage, Callable[[Path], None]]:
    """(holdout comparison, lineage, writer of the candidate's folder) of a typed retrain."""
    candidate = fit_candidate(job.spec, job.seed, job.base, job.train, job.holdout, job.champion)
    comparison = compare(job.holdout.labels, candidate.answered, candidate.predicted)
    lineage = lineage_of(
        job.run, job.base, job.champion, job.rows, job.duplicates, job.train, job.holdout,
        job.since, comparison,
    )  # fmt: skip
    predicted = {job.version: candidate.predicted, job.champion.version: candidate.answered}
    stats = typed_drift_reference(job.base, job.train, len(job.holdout.labels), predicted)

    def write(folder: Path) -> None:
        write_typed_folder(
            folder, job.version, job.spec, job.seed, job.base, candidate, lineage, job.now, stats
        )

    return comparison, lineage, write
