"""The retraining set: base data plus labelled production rows, and a holdout split by time.

Pure functions over arrays, so tests check them on rows worked out by hand.
"""

from __future__ import annotations

import json
from dataclasses import dataclass, replace
from typing import TypeVar

import numpy as np
from numpy.typing import NDArray

from mlops_pipeline.storage.labels import TypedLabelledRows
from mlops_pipeline.storage.records import LabelledRows

DUPLICATE_SECONDS = 300.0  # a retry comes within moments; a repeat after this is another row
# Float rows (an all-numeric model) or typed rows (objects by column name): split alike.
Rows = TypeVar("Rows", LabelledRows, TypedLabelledRows)


def deduplicate(rows: Rows, within_seconds: float = DUPLICATE_SECONDS) -> tuple[Rows, int]:
    """Drop a row whose (features, label) pair was already kept from a request answered at most
    ``within_seconds`` earlier; return the rows kept and how many were dropped.

    A client that retries, or a batch re-sent, logs the same row twice within moments; counting
    it twice would weight it twice in training and could put one copy in training and one in
    the holdout. The same measurements on another day are another flower (Iris is measured to
    0.1 cm, so equal rows are common), and the same features with different labels are a real
    disagreement: both are kept. Rows must be oldest first.
    """
    kept_at: dict[tuple[bytes, int], float] = {}
    keep = np.zeros(len(rows.labels), dtype=bool)
    for index in range(len(rows.labels)):
        key = (_row_key(rows, index), int(rows.labels[index]))
        created = float(rows.created_at[index])
        previous = kept_at.get(key)
        if previous is None or created - previous > within_seconds:
            kept_at[key] = created
            keep[index] = True
    return _take(rows, keep), int((~keep).sum())


def split_by_time(rows: Rows, holdout_fraction: float) -> tuple[Rows, Rows]:
    """(train, holdout): the holdout is the most recent ``holdout_fraction`` of the rows.

    Rows must be oldest first. A random split would test on rows from the same days as the
    training rows; the question a retrain answers is how the model does on what comes next.
    Rows answered at the same instant (one batch request) stay on one side: the boundary moves
    back to the first of them, or past the last when that would more than double the holdout.
    """
    if not 0 < holdout_fraction < 1:
        raise ValueError(f"holdout_fraction must be between 0 and 1, got {holdout_fraction}")
    count = len(rows.labels)
    if count < 2:
        raise ValueError("at least two rows are needed to hold some out")
    target = count - max(1, round(count * holdout_fraction))
    boundary = target
    while boundary > 0 and rows.created_at[boundary - 1] == rows.created_at[boundary]:
        boundary -= 1
    if count - boundary > 2 * (count - target):  # a big batch would swell the holdout: it
        boundary = target  # goes to training instead, the holdout starts after it
        while boundary < count and rows.created_at[boundary - 1] == rows.created_at[boundary]:
            boundary += 1
    if boundary in (0, count):
        raise ValueError("the rows were answered at too few instants to hold the newest out")
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


def _row_key(rows: LabelledRows | TypedLabelledRows, index: int) -> bytes:
    if isinstance(rows, TypedLabelledRows):  # keys sorted: one row, one key, whatever the order
        return json.dumps(rows.rows[index], sort_keys=True).encode()
    return np.ascontiguousarray(rows.features[index], dtype="<f8").tobytes()


def _take(rows: Rows, mask: NDArray[np.bool_]) -> Rows:
    labels, created, labelled = rows.labels[mask], rows.created_at[mask], rows.labelled_at[mask]
    if isinstance(rows, TypedLabelledRows):
        kept = [rows.rows[index] for index in np.flatnonzero(mask).tolist()]
        return replace(rows, rows=kept, labels=labels, created_at=created, labelled_at=labelled)
    return replace(
        rows, features=rows.features[mask], labels=labels, created_at=created, labelled_at=labelled
    )
