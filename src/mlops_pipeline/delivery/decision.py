"""What the rollout decision takes and gives: the evidence read from the log, and the action
with the checks and accuracy summary behind it (kept with the rollout as its last evidence)."""

from __future__ import annotations

from dataclasses import dataclass, field

from mlops_pipeline.storage.records import EpochCount

ADVANCE, PROMOTE, ROLLBACK, HOLD, WEIGHTS = "advance", "promote", "rolled_back", "hold", "weights"


@dataclass(frozen=True)
class Evidence:
    epochs: list[EpochCount]  # the rollout's routed traffic per (split, version)
    step_weights_version: int
    step_weights: dict[str, float]  # the split the current step routes under
    candidate_latencies_ms: list[float] = field(default_factory=list)  # current step, per row
    drift_alarm: bool = False
    # Randomization units (sticky users, requests without one) per version in the current step:
    # what the sample-ratio test counts when known, so one user sent many times counts once.
    step_units: dict[str, int] | None = None


@dataclass(frozen=True)
class Check:
    name: str
    ok: bool
    value: float | None
    limit: float | None
    detail: str

    def to_json(self) -> dict[str, object]:
        return {"name": self.name, "ok": self.ok, "value": self.value, "limit": self.limit,
                "detail": self.detail}  # fmt: skip


@dataclass(frozen=True)
class Summary:
    """The accuracy evidence behind a decision, beside its checks."""

    difference: float  # candidate - baseline, stratified by split
    labels: dict[str, int]  # over the whole rollout: candidate first, then baseline
    step_labels: int
    p_worse: float
    p_not_inferior: float
    probability_better: float | None = None  # thompson only

    def to_json(self) -> dict[str, object]:
        body: dict[str, object] = {
            "difference": self.difference,
            "labels": self.labels,
            "step_labels": self.step_labels,
            "p_worse": self.p_worse,
            "p_not_inferior": self.p_not_inferior,
        }
        if self.probability_better is not None:
            body["probability_better"] = self.probability_better
        return body


@dataclass(frozen=True)
class Decision:
    action: str  # hold | advance | promote | rolled_back | weights
    reason: str
    weights: dict[str, float] | None
    step: int
    checks: list[Check]
    summary: Summary

    def record(self) -> dict[str, object]:
        """The decision as the rollout keeps it (its last evidence, served as it is)."""
        return {"action": self.action, "reason": self.reason,
                "checks": [c.to_json() for c in self.checks], **self.summary.to_json()}  # fmt: skip
