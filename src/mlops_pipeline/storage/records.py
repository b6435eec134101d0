"""Values the stores take and return: frozen dataclasses, so mypy checks what crosses modules."""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np
from numpy.typing import NDArray

ROUTED = "routed"  # the A/B router chose the version (randomly or by sticky user)
PINNED = "pinned"  # the caller named the version
FLOAT = np.dtype("<f8")
INT = np.dtype("<i8")


@dataclass(frozen=True)
class PredictionBatch:
    """One answered request: one row for a single prediction, many for a batch."""

    request_id: str
    created_at: float  # Unix seconds
    model_version: str
    user_id: str | None
    features: NDArray[np.float64]
    predictions: NDArray[np.int64]
    probabilities: NDArray[np.float64]
    latency_ms: float
    assignment: str = ROUTED
    weights_version: int | None = None  # the traffic split it was routed under


@dataclass(frozen=True)
class LoggedRows:
    """The newest logged rows as arrays, oldest first (what drift detection compares)."""

    features: NDArray[np.float64]
    predictions: NDArray[np.int64]
    versions: list[str]
    oldest_created_at: float | None


@dataclass(frozen=True)
class LoggedPrediction:
    model_version: str
    predicted: int
    assignment: str = ROUTED


@dataclass(frozen=True)
class LabelSequence:
    versions: list[str]
    correct: NDArray[np.bool_]


@dataclass(frozen=True)
class StoredWeights:
    weights: dict[str, float]
    version: int  # increases with every change; replicas adopt a higher one
    changed_at: float


@dataclass(frozen=True)
class WeightChange:
    id: int
    changed_at: float
    actor: str
    old: dict[str, float]
    new: dict[str, float]


@dataclass(frozen=True)
class StoredReport:
    name: str
    computed_at: float
    body: str  # JSON
    written_by: str
