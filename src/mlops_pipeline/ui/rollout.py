"""What the Experiment page's rollout section computes: the plan from the form, and the rows and
sentences it shows for a rollout the API described (GET /rollouts/current, GET /rollouts)."""

from __future__ import annotations

import time
from typing import Any

from mlops_pipeline.ui.client import UiError

DEFAULT_STEPS_TEXT = "0.05, 0.25, 0.5, 1.0"
POLICIES = ["steps", "thompson"]


def parse_steps(text: str) -> list[float]:
    """Comma-separated shares as numbers; the API checks they increase and end at 1.0."""
    try:
        steps = [float(part) for part in text.replace(";", ",").split(",") if part.strip()]
    except ValueError:
        raise UiError(
            f"Steps must be comma-separated shares such as {DEFAULT_STEPS_TEXT!r},"
            f" got {text[:60]!r}."
        ) from None
    if not steps:
        raise UiError(f"Enter the steps as comma-separated shares, e.g. {DEFAULT_STEPS_TEXT!r}.")
    return steps


def build_plan(
    candidate: str,
    baseline: str,
    steps_text: str,
    min_labels_per_step: int,
    max_error_rate: float,
    max_p99_ms: float,
    max_accuracy_drop: float,
    policy: str,
) -> dict[str, Any]:
    """The JSON plan `POST /rollouts` takes."""
    return {
        "candidate": candidate,
        "baseline": baseline,
        "steps": parse_steps(steps_text),
        "min_labels_per_step": int(min_labels_per_step),
        "guardrails": {
            "max_error_rate": float(max_error_rate),
            "max_p99_ms": float(max_p99_ms),
            "max_accuracy_drop": float(max_accuracy_drop),
        },
        "policy": policy,
    }


def when(seconds: float | None) -> str:
    if seconds is None:
        return "-"
    return time.strftime("%Y-%m-%d %H:%M:%S", time.localtime(seconds))


def share(value: float) -> str:
    """0.05 as '5%', 0.025 as '2.5%'."""
    return f"{round(value * 100, 4):g}%"


def weights_text(weights: dict[str, float] | None) -> str:
    if not weights:
        return "-"
    return ", ".join(f"{version} {share(weight)}" for version, weight in weights.items())


def step_text(rollout: dict[str, Any]) -> str:
    step = int(rollout["step"])
    if rollout.get("policy") == "thompson" or rollout.get("step_share") is None:
        return f"Thompson sampling, {step} weight update{'s' if step != 1 else ''} so far"
    steps = rollout.get("plan", {}).get("steps") or []
    of = f" of {len(steps)}" if steps else ""
    return f"step {step + 1}{of} (index {step}), candidate share {share(rollout['step_share'])}"


def labels_text(rollout: dict[str, Any]) -> tuple[str, float | None]:
    """Labels this step against the plan's minimum, and the fraction done (None: not counted)."""
    needed = int(rollout.get("plan", {}).get("min_labels_per_step", 0))
    evidence = rollout.get("evidence")
    if not evidence or evidence.get("step_labels") is None:
        return f"Labels in this step: not counted yet ({needed} needed).", None
    counted = int(evidence["step_labels"])
    done = 1.0 if needed <= 0 else min(1.0, counted / needed)
    return f"Labels in this step: {counted} of {needed} needed.", done


def check_rows(evidence: dict[str, Any] | None) -> list[dict[str, Any]]:
    """The guardrail checks of the latest decision, one row each."""
    if not evidence:
        return []
    return [
        {
            "check": check.get("name"),
            "value": check.get("value"),
            "limit": check.get("limit"),
            "ok": bool(check.get("ok")),
            "detail": check.get("detail", ""),
        }
        for check in evidence.get("checks") or []
    ]


def event_rows(events: list[dict[str, Any]]) -> list[dict[str, Any]]:
    """The audit trail, oldest first as the API lists it."""
    return [
        {
            "at": when(event.get("at")),
            "event": event.get("event"),
            "state": event.get("state"),
            "step": event.get("step"),
            "weights": weights_text(event.get("weights")),
            "reason": event.get("reason", ""),
        }
        for event in events
    ]


def finished_text(rollout: dict[str, Any]) -> str:
    """One sentence on a finished rollout."""
    return (
        f"The last rollout ({rollout['candidate']} against {rollout['baseline']}) ended"
        f" **{rollout['state']}** at {when(rollout.get('ended_at'))}: {rollout['reason']}"
    )
