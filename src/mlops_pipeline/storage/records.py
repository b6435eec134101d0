"""Values the stores take and return: frozen dataclasses, so mypy checks what crosses modules."""

from __future__ import annotations

from dataclasses import dataclass
from typing import TYPE_CHECKING, Any

import numpy as np
from numpy.typing import NDArray

from mlops_pipeline.schema.rows import TypedBatch

if TYPE_CHECKING:  # the plan's type only; storage/rollouts.py parses it
    from mlops_pipeline.rollout_plan import Plan

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
    # All-numeric models: the (rows, features) float matrix, logged as a float64 blob. Typed
    # schemas: the checked batch, logged as JSON objects by column name (storage/typed_rows.py).
    features: NDArray[np.float64] | TypedBatch
    predictions: NDArray[np.int64]
    probabilities: NDArray[np.float64]
    latency_ms: float
    assignment: str = ROUTED
    weights_version: int | None = None  # the traffic split it was routed under
    # The prediction key's name or "anonymous:..." (protocol/clients.py).
    client_id: str | None = None


@dataclass(frozen=True)
class LoggedRows:
    """The newest logged rows as arrays, oldest first (what drift detection compares)."""

    features: NDArray[np.float64]
    predictions: NDArray[np.int64]
    versions: list[str]
    oldest_created_at: float | None
    clients: list[str | None] | None = None  # per row: who sent it (None: not recorded)
    # Typed schemas (newest_typed_rows): per row its values by column name, None where missing;
    # ``features`` is then an empty (rows, 0) matrix.
    typed: list[dict[str, Any]] | None = None


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


@dataclass(frozen=True)
class RegisteredModel:
    version: str
    status: str  # active | retired
    sha256: str | None  # of the ONNX bytes; None for a retired trained version
    metadata: dict[str, object]
    registered_at: float
    changed_at: float
    actor: str


@dataclass(frozen=True)
class Rollout:
    id: int
    candidate: str
    baseline: str
    plan: Plan  # parsed once as the row is read: the controller ticks on the typed value
    state: str  # running | promoted | rolled_back | aborted
    step: int  # index into the plan's steps (bandit: the number of weight updates)
    step_started_at: float
    step_weights_version: int  # the stored split the current step routes under
    first_weights_version: int  # the rollout's first split: its evidence is from here on
    weights_before: dict[str, float]
    started_at: float
    ended_at: float | None
    reason: str
    actor: str
    last_evidence: dict[str, object] | None = None
    first_log_id: int = 0  # the newest logged request when it started


@dataclass(frozen=True)
class RolloutEvent:
    id: int
    rollout_id: int
    at: float
    event: str  # started | advanced | weights | held | promoted | rolled_back | aborted
    state: str
    step: int
    weights: dict[str, float]
    reason: str


@dataclass(frozen=True)
class EpochCount:
    """Routed traffic of one model version under one stored split (weights version)."""

    weights_version: int
    version: str
    requests: int = 0
    labelled: int = 0
    correct: int = 0
    failures: int = 0


@dataclass(frozen=True)
class RetrainRun:
    """One request for a retrained candidate and how it ended (the audit of retraining)."""

    id: int
    requested_at: float
    trigger: str  # cli | api | drift-alert
    actor: str
    version: str | None
    rollout: bool
    since_days: float | None
    status: str  # queued | running | registered | refused | failed
    started_at: float | None
    finished_at: float | None
    message: str
    result: dict[str, object] | None


@dataclass(frozen=True)
class LabelledRows:
    """Routed predictions with their true labels, oldest request first."""

    features: NDArray[np.float64]  # (rows, n_features)
    labels: NDArray[np.int64]
    created_at: NDArray[np.float64]  # when the prediction was answered
    labelled_at: NDArray[np.float64]  # when its label first arrived
