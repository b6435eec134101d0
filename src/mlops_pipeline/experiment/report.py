"""What the experiment report holds: frozen dataclasses, turned into JSON only at the edges."""

from __future__ import annotations

from dataclasses import asdict, dataclass
from typing import Any


@dataclass(frozen=True)
class VersionStats:
    served: int  # routed requests, all time
    weight: float
    traffic_share: float  # of routed requests under the current split
    labelled: int
    accuracy: float | None
    accuracy_interval: tuple[float, float]  # 95% Wilson
    confusion_matrix: list[list[int]]  # rows true class, columns predicted
    latency_ms_p50: float | None
    latency_ms_p99: float | None


@dataclass(frozen=True)
class PinnedStats:
    """Traffic whose caller named the version: reported apart, never experiment evidence."""

    served: int
    labelled: int
    accuracy: float | None


@dataclass(frozen=True)
class Comparison:
    champion: str
    challenger: str
    accuracy_difference: float
    difference_interval: tuple[float, float]  # 95% Newcombe
    always_valid_pvalue: float
    alpha: float
    decision: str
    reason: str


@dataclass(frozen=True)
class Verdict:
    decision: str
    reason: str


@dataclass(frozen=True)
class SampleRatio:
    pvalue: float
    alpha: float
    mismatch: bool
    since: float | None  # when the current split was stored
    # Routed randomization units per version under the current split (each sticky user once,
    # each request without a user id once); the JSON key stays "requests" for existing clients.
    requests: dict[str, int]


@dataclass(frozen=True)
class ExperimentReport:
    champion: str
    classes: list[str]
    versions: dict[str, VersionStats]
    pinned: dict[str, PinnedStats]
    comparisons: list[Comparison]
    decision: Verdict
    shadow: dict[str, dict[str, float]]
    sample_ratio: SampleRatio
    computed_at: float

    def to_json(self) -> dict[str, Any]:
        return asdict(self)
