"""A rollout plan: what `POST /rollouts` takes, validated into one typed object.

A value type beside version_metadata.py rather than inside delivery/: the rollouts table's
owner (storage/rollouts.py) returns each row's plan parsed once, and storage sits below
delivery, so the type both use lives below them.
"""

from __future__ import annotations

import itertools
import math
from collections.abc import Mapping
from dataclasses import asdict, dataclass, field
from typing import Any

from mlops_pipeline.errors import InvalidRollout

STEPS, THOMPSON = "steps", "thompson"
DEFAULT_STEPS = (0.05, 0.25, 0.5, 1.0)


@dataclass(frozen=True)
class Guardrails:
    max_error_rate: float = 0.01
    max_p99_ms: float = 50.0
    max_accuracy_drop: float = 0.02  # the non-inferiority margin


@dataclass(frozen=True)
class Plan:
    candidate: str
    baseline: str
    steps: tuple[float, ...] = DEFAULT_STEPS
    min_labels_per_step: int = 200
    min_minutes_per_step: float = 0.0
    guardrails: Guardrails = field(default_factory=Guardrails)
    policy: str = STEPS
    floor: float = 0.05  # thompson: least share of each version
    max_change: float = 0.1  # thompson: most a weight moves per update
    alpha: float = 0.05
    # A drift alarm holds the step: accuracy on traffic unlike the training data says little
    # about the traffic to come. A candidate retrained on that drifted traffic is the answer to
    # the alarm (which compares with the original training data), so its rollout may go on.
    hold_on_drift: bool = True
    # Labels (candidate + baseline, whole rollout) after which a candidate whose accuracy check
    # still fails is rolled back: with margin 0 ("shown better"), an equal candidate ends here
    # instead of holding its first step forever. None: no limit.
    max_labels: int | None = None

    def to_json(self) -> dict[str, object]:
        """The plan as stored with its rollout and served back (every field, in order)."""
        body: dict[str, object] = asdict(self)
        body["steps"] = list(self.steps)
        return body

    def split(self, share: float) -> dict[str, float]:
        """The candidate at ``share``, the baseline the rest, every other version nothing."""
        return {self.candidate: share, self.baseline: round(1.0 - share, 12)}

    def step_weights(self, step: int) -> dict[str, float]:
        return self.split(self.steps[step])


def _number(
    payload: Mapping[str, object], key: str, default: float, low: float, high: float
) -> float:
    value = payload.get(key, default)
    # type(), not isinstance alone: true and false are not numbers here.
    if (
        type(value) not in (int, float)
        or not isinstance(value, int | float)
        or not math.isfinite(value)
        or not low <= value <= high
    ):
        raise InvalidRollout(f"{key!r} must be a number from {low} to {high}, got {value!r}")
    return float(value)


def parse_plan(payload: Any, served: list[str]) -> Plan:
    """The plan in ``payload``, or InvalidRollout naming what is wrong."""
    if not isinstance(payload, dict):
        raise InvalidRollout("the plan must be a JSON object")
    unknown = set(payload) - {
        "candidate", "baseline", "steps", "min_labels_per_step", "min_minutes_per_step",
        "guardrails", "policy", "floor", "max_change", "alpha", "hold_on_drift", "max_labels",
    }  # fmt: skip
    if unknown:
        raise InvalidRollout(f"unknown plan fields: {sorted(unknown)[:5]}")
    candidate, baseline = _versions(payload, served)
    policy = payload.get("policy", STEPS)
    if policy not in (STEPS, THOMPSON):
        raise InvalidRollout(f"policy must be {STEPS!r} or {THOMPSON!r}, got {policy!r}")
    steps = _steps(payload, policy)
    labels = payload.get("min_labels_per_step", 200)
    if type(labels) is not int or not 1 <= labels <= 1_000_000:
        raise InvalidRollout(f"'min_labels_per_step' must be an integer from 1, got {labels!r}")
    max_labels = payload.get("max_labels")
    if max_labels is not None and (type(max_labels) is not int or not 100 <= max_labels <= 10**8):
        raise InvalidRollout(f"'max_labels' must be null or an integer >= 100, got {max_labels!r}")
    hold_on_drift = payload.get("hold_on_drift", True)
    if not isinstance(hold_on_drift, bool):
        raise InvalidRollout(f"'hold_on_drift' must be true or false, got {hold_on_drift!r}")
    guardrails = payload.get("guardrails", {})
    if not isinstance(guardrails, dict) or set(guardrails) - set(asdict(Guardrails())):
        raise InvalidRollout(f"guardrails may set {sorted(asdict(Guardrails()))}")
    return Plan(
        candidate=candidate,
        baseline=baseline,
        steps=steps,
        min_labels_per_step=labels,
        min_minutes_per_step=_number(payload, "min_minutes_per_step", 0.0, 0.0, 7 * 24 * 60),
        guardrails=Guardrails(
            # Above 0: no finite number of requests can show an error rate of exactly 0.
            max_error_rate=_number(guardrails, "max_error_rate", 0.01, 0.0001, 1.0),
            max_p99_ms=_number(guardrails, "max_p99_ms", 50.0, 0.001, 600_000.0),
            max_accuracy_drop=_number(guardrails, "max_accuracy_drop", 0.02, 0.0, 1.0),
        ),
        policy=policy,
        # Above 0: a version at 0% collects no evidence and the rollout could never end.
        floor=_number(payload, "floor", 0.05, 0.01, 0.5),
        max_change=_number(payload, "max_change", 0.1, 0.001, 1.0),
        alpha=_number(payload, "alpha", 0.05, 1e-6, 0.5),
        hold_on_drift=hold_on_drift,
        max_labels=max_labels,
    )


def _versions(payload: Mapping[str, object], served: list[str]) -> tuple[str, str]:
    """(candidate, baseline): two different served versions."""
    candidate, baseline = payload.get("candidate"), payload.get("baseline")
    for role, version in (("candidate", candidate), ("baseline", baseline)):
        if not isinstance(version, str) or version not in served:
            raise InvalidRollout(f"{role} must be a served version {served}, got {version!r}")
    if candidate == baseline:
        raise InvalidRollout("candidate and baseline must differ")
    return str(candidate), str(baseline)


def _steps(payload: Mapping[str, object], policy: str) -> tuple[float, ...]:
    steps = payload.get("steps", list(DEFAULT_STEPS))
    if (
        not isinstance(steps, list)
        or not 1 <= len(steps) <= 20
        or any(type(s) not in (int, float) or not 0 < s <= 1 for s in steps)
        or any(b <= a for a, b in itertools.pairwise(steps))
        or steps[-1] != 1
        or (policy == STEPS and len(steps) < 2)
    ):
        raise InvalidRollout(
            "steps must be 2-20 increasing shares in (0, 1] ending at 1.0 (the shares before 1.0"
            " compare the versions), e.g. [0.05, 0.25, 0.5, 1.0]"
        )
    return tuple(float(s) for s in steps)


def plan_from_json(body: Mapping[str, Any]) -> Plan:
    """A stored plan back into its object (it was validated when the rollout started)."""
    guardrails = Guardrails(**body.get("guardrails", {}))
    return Plan(**{**body, "steps": tuple(body["steps"]), "guardrails": guardrails})
