"""The candidate's files: its lineage, its drift reference and a one-version artifacts folder
that `mlops models register` (and the retrain) verifies before storing."""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import asdict, dataclass
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import numpy as np
from numpy.typing import NDArray

from mlops_pipeline import artifacts
from mlops_pipeline.catalogue import ModelVersionSpec
from mlops_pipeline.retraining.champion import Champion
from mlops_pipeline.retraining.comparison import Comparison, compare
from mlops_pipeline.retraining.dataset import combine
from mlops_pipeline.serving.inference import OnnxPredictor
from mlops_pipeline.storage.labels import TypedLabelledRows
from mlops_pipeline.storage.records import LabelledRows, RetrainRun
from mlops_pipeline.training.data import Dataset
from mlops_pipeline.training.trainer import (
    MAX_REFERENCE_SAMPLE,
    Split,
    fit_and_export,
    reference_statistics,
    write_version,
)
from mlops_pipeline.training.typed_data import TypedDataset


@dataclass(frozen=True)
class ProductionLabels:
    """The labelled production rows a candidate learnt from and was judged on."""

    count: int
    duplicates_dropped: int
    train_rows: int
    holdout_rows: int
    first_request_at: float
    last_request_at: float
    last_labelled_at: float  # what the next retrain must pass to learn something new
    holdout_from: float
    since: float | None


@dataclass(frozen=True)
class Lineage:
    """Where a retrained candidate came from: written into its metadata.json (the "lineage"
    object VersionMetadata reads back) and printed by `mlops retrain --json`."""

    run_id: int
    trigger: str
    base_source: str
    base_sha256: str
    base_rows: int
    same_as_champion: bool  # the base data is the champion's own
    labels: ProductionLabels
    champion: str
    comparison: Comparison

    def to_json(self) -> dict[str, object]:
        return {
            "run_id": self.run_id,
            "trigger": self.trigger,
            "base_data": {
                "source": self.base_source,
                "sha256": self.base_sha256,
                "rows": self.base_rows,
                "same_as_champion": self.same_as_champion,
            },
            "production_labels": asdict(self.labels),
            "champion": {"version": self.champion, "holdout": self.comparison.champion.to_json()},
            "candidate": {"holdout": self.comparison.candidate.to_json()},
            "comparison": self.comparison.to_json(),
        }


def lineage_of(
    run: RetrainRun,
    base: Dataset | TypedDataset,
    champion: Champion,
    rows: LabelledRows | TypedLabelledRows,
    duplicates: int,
    train: LabelledRows | TypedLabelledRows,
    holdout: LabelledRows | TypedLabelledRows,
    since: float,
    comparison: Comparison,
) -> Lineage:
    # A typed base is a CSV: its file's hash, as the champion's training_data recorded it.
    sha256 = base.sha256 if isinstance(base, TypedDataset) else base.content_hash()
    labels = ProductionLabels(
        count=len(rows.labels),
        duplicates_dropped=duplicates,
        train_rows=len(train.labels),
        holdout_rows=len(holdout.labels),
        first_request_at=float(rows.created_at.min()),
        last_request_at=float(rows.created_at.max()),
        last_labelled_at=float(rows.labelled_at.max()),
        holdout_from=float(holdout.created_at.min()),
        since=since or None,
    )
    return Lineage(
        run.id, run.trigger, base.source, sha256, len(base.labels),
        sha256 == champion.metadata.base_data_sha256, labels, champion.version, comparison,
    )  # fmt: skip


def write_folder(
    folder: Path,
    version: str,
    algorithm: str,
    params: dict[str, Any],
    exported: Any,
    base: Dataset,
    features: np.ndarray[Any, Any],
    labels: np.ndarray[Any, Any],
    holdout: LabelledRows,
    lineage: Lineage,
    now: float,
    stats: dict[str, Any],
) -> None:
    """A one-version artifacts folder `mlops models register` accepts (manifest, stats)."""
    write_version(
        folder / version,
        exported,
        {
            "version": version,
            "algorithm": algorithm,
            "params": params,
            "default_weight": 0.0,
            "evaluation": {"holdout": lineage.comparison.to_json()},
            "feature_names": list(base.feature_names),
            "class_names": list(base.class_names),
            "training_data": {
                "source": f"retrain: {base.source} + production labels",
                "sha256": Dataset(
                    features, labels, base.feature_names, base.class_names, "retrain"
                ).content_hash(),
                "rows": len(labels),
                "train_rows": len(labels),
                "test_rows": len(holdout.labels),
            },
            "created_at": datetime.fromtimestamp(now, UTC).isoformat(),
            "lineage": lineage.to_json(),
        },
    )
    artifacts.write_json(folder / artifacts.TRAINING_STATS, stats)
    artifacts.write_manifest(folder, [version], {version: 1.0})


def drift_reference(
    base: Dataset,
    train: LabelledRows,
    holdout: LabelledRows,
    predicted: dict[str, NDArray[np.int64]],
) -> dict[str, Any]:
    """What drift is measured against once this candidate is champion: the production rows it
    learnt (the newest MAX_REFERENCE_SAMPLE), not the original data, or the drift it answers
    would keep alarming; the predicted-class shares are each version's on the holdout (rows
    neither fitted), so the class test is fair to whichever version answers."""
    newest = slice(max(0, len(train.labels) - MAX_REFERENCE_SAMPLE), None)
    split = Split(train.features[newest], holdout.features, train.labels[newest], holdout.labels)
    stats = reference_statistics(base, split)
    n_classes = len(base.class_names)
    stats["predicted_class_shares"] = {
        version: [float(x) for x in np.bincount(classes, minlength=n_classes) / len(classes)]
        for version, classes in predicted.items()
    }
    return stats


def numeric_candidate(
    run: RetrainRun,
    version: str,
    spec: ModelVersionSpec,
    seed: int,
    champion: Champion,
    base: Dataset,
    rows: LabelledRows,
    duplicates: int,
    train: LabelledRows,
    holdout: LabelledRows,
    since: float,
    now: float,
) -> tuple[Comparison, Lineage, Callable[[Path], None]]:
    """(holdout comparison, lineage, writer of the folder) of an all-numeric model's retrain:
    float rows, one float tensor (typed.py is the mixed-type twin)."""
    combined = combine(base.features, base.labels, train)
    check = np.vstack([holdout.features, base.features])
    exported = fit_and_export(spec, seed, combined.features, combined.labels, check)
    predicted = OnnxPredictor(version, exported.onnx_bytes).predict(holdout.features)[0]
    answered = OnnxPredictor(champion.version, champion.onnx_bytes).predict(holdout.features)[0]
    comparison = compare(holdout.labels, answered, predicted)
    lineage = lineage_of(run, base, champion, rows, duplicates, train, holdout, since, comparison)
    reference = drift_reference(
        base, train, holdout, {version: predicted, champion.version: answered}
    )
    params = {**spec.params, "random_state": seed}

    def write(folder: Path) -> None:
        write_folder(
            folder, version, spec.algorithm, params, exported, base, combined.features,
            combined.labels, holdout, lineage, now, reference,
        )  # fmt: skip

    return comparison, lineage, write
