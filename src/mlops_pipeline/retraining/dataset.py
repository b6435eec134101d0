"""The retraining set: base data plus labelled production rows, and a holdout split by time.

Pure functions over arrays, so tests check them on rows worked out by hand.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np
from numpy.typing import NDArray

from mlops_pipeline.storage.records import LabelledRows


def deduplicate(rows: LabelledRows) -> tuple[LabelledRows, int]:
    """Keep the first occurrence of each (features, label) pair; return how many were dropped.

    A client that retries, or a batch re-sent, logs the same row twice; counting it twice would
    weight it twice in training and could put one copy in training and one in the holdout.
    Equal features with different labels are both kept: that disagreement is real.
    """
    seen: set[tuple[bytes, int]] = set()
    keep = np.zeros(len(rows.labels), dtype=bool)
    for index in range(len(rows.labels)):
        key = (
            np.ascontiguousarray(rows.features[index], dtype="<f8").tobytes(),
            int(rows.labels[index]),
        )
        if key not in seen:
            seen.add(key)
            keep[index] = True
    return _take(rows, keep), int((~keep).sum())


def split_by_time(rows: LabelledRows, holdout_fraction: float) -> tuple[LabelledRows, LabelledRows]:
    """(train, holdout): the holdout is the most recent ``holdout_fraction`` of the rows.

    Rows must be oldest first. A random split would test on rows from the same days as the
    training rows; the question a retrain answers is how the model does on what comes next.
    Rows answered at the same instant (one batch request) stay on one side: the boundary moves
    back to the first of them.
    """
    if not 0 < holdout_fraction < 1:
        raise ValueError(f"holdout_fraction must be between 0 and 1, got {holdout_fraction}")
    count = len(rows.labels)
    if count < 2:
        raise ValueError("at least two rows are needed to hold some out")
    boundary = count - max(1, round(count * holdout_fraction))
    while boundary > 0 and rows.created_at[boundary - 1] == rows.created_at[boundary]:
        boundary -= 1
    if boundary == 0:
        raise ValueError("every row was answered at the same instant: no time-based split")
    index = np.arange(count)
    return _take(rows, index < boundary), _take(rows, index >= boundary)


@dataclass(frozen=True)
class TrainingSet:
    features: NDArray[np.float64]
    labels: NDArray[np.int64]
    base_rows: int
    production_rows: int


def combine(
    base_features: NDArray[np.float64], base_labels: NDArray[np.int64], production: LabelledRows
) -> TrainingSet:
    """Base data first, then the production rows (an estimator's result does not depend on
    the order, but a fixed order keeps a retrain reproducible)."""
    if len(production.labels) and production.features.shape[1] != base_features.shape[1]:
        raise ValueError(
            f"production rows have {production.features.shape[1]} features,"
            f" the base data {base_features.shape[1]}"
        )
    features = np.vstack([base_features, production.features.reshape(-1, base_features.shape[1])])
    labels = np.concatenate([base_labels, production.labels]).astype(np.int64)
    return TrainingSet(features, labels, len(base_labels), len(production.labels))


def _take(rows: LabelledRows, mask: NDArray[np.bool_]) -> LabelledRows:
    return LabelledRows(
        rows.features[mask], rows.labels[mask], rows.created_at[mask], rows.labelled_at[mask]
    )
