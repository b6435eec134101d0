"""Rollout plan, decision and bandit: pure functions, numbers worked out by hand."""

from __future__ import annotations

import math
import random
from typing import Any

import pytest

from mlops_pipeline.delivery.bandit import next_share, probability_better
from mlops_pipeline.delivery.controller import (
    ADVANCE,
    HOLD,
    PROMOTE,
    ROLLBACK,
    WEIGHTS,
    Evidence,
    decide,
)
from mlops_pipeline.errors import InvalidRollout
from mlops_pipeline.experiment.statistics import Stratum, msprt_pvalue, stratified_difference
from mlops_pipeline.rollout_plan import Plan, parse_plan, plan_from_json
from mlops_pipeline.storage.records import EpochCount

SERVED = ["v1", "v2", "v3"]
PLAN = {"candidate": "v3", "baseline": "v2", "min_labels_per_step": 100}
FAST = [1.0] * 100  # latencies well under any limit


def test_plan_defaults_and_round_trip() -> None:
    plan = parse_plan({"candidate": "v3", "baseline": "v2"}, SERVED)
    assert plan.steps == (0.05, 0.25, 0.5, 1.0)
    assert (plan.min_labels_per_step, plan.guardrails.max_accuracy_drop) == (200, 0.02)
    assert plan.step_weights(1) == {"v3": 0.25, "v2": 0.75}
    assert plan_from_json(plan.to_json()) == plan


@pytest.mark.parametrize(
    ("change", "message"),
    [
        ({"candidate": "v9"}, "candidate must be a served version"),
        ({"baseline": "v3"}, "must differ"),
        ({"steps": [0.5, 0.25, 1.0]}, "increasing"),
        ({"steps": [0.1, 0.5]}, "ending at 1.0"),
        ({"steps": []}, "2-20"),
        ({"steps": [1.0]}, "2-20"),  # no share below 1.0 would ever compare the versions
        ({"policy": "thompson", "floor": 0.0}, "'floor' must be a number from 0.01"),
        ({"guardrails": {"max_error_rate": 0}}, "'max_error_rate' must be a number from 0.0001"),
        ({"steps": [0, 1.0]}, "in \\(0, 1\\]"),
        ({"min_labels_per_step": 0}, "integer from 1"),
        ({"min_labels_per_step": 2.5}, "integer from 1"),
        ({"guardrails": {"max_error_rate": 2}}, "'max_error_rate' must be a number"),
        ({"guardrails": {"max_p99_ms": float("nan")}}, "'max_p99_ms' must be a number"),
        ({"guardrails": {"speed": 1}}, "guardrails may set"),
        ({"policy": "greedy"}, "policy must be"),
        ({"surprise": 1}, "unknown plan fields"),
    ],
)
def test_bad_plans_are_refused_with_the_reason(change: dict[str, Any], message: str) -> None:
    with pytest.raises(InvalidRollout, match=message):
        parse_plan({**PLAN, **change}, SERVED)


def test_stratified_difference_by_hand() -> None:
    # Stratum 1: a 80/100, b 18/20; stratum 2: a 45/50, b 40/50. Weights 120/220 and 100/220.
    diff, variance, n_a, n_b = stratified_difference(
        [Stratum(100, 80, 20, 18), Stratum(50, 45, 50, 40), Stratum(0, 0, 9, 9)]
    )
    expected = 120 / 220 * (0.9 - 0.8) + 100 / 220 * (0.8 - 0.9)
    assert diff == pytest.approx(expected)
    assert (n_a, n_b) == (150, 70)  # the stratum without a's labels is skipped
    sa, sb = 81 / 102, 19 / 22
    first = sa * (1 - sa) / 100 + sb * (1 - sb) / 20
    sa2, sb2 = 46 / 52, 41 / 52
    second = sa2 * (1 - sa2) / 50 + sb2 * (1 - sb2) / 50
    assert variance == pytest.approx((120 / 220) ** 2 * first + (100 / 220) ** 2 * second)


def test_one_sided_msprt_halves_the_p_value_on_its_side_only() -> None:
    two_sided = msprt_pvalue(0.05, 0.0004, 0.0, 0.05)
    right_side = msprt_pvalue(0.05, 0.0004, 0.0, 0.05, side=+1)
    wrong_side = msprt_pvalue(0.05, 0.0004, 0.0, 0.05, side=-1)
    # log LR = 0.5 ln(V / (V + t2)) + t2 d^2 / (2 V (V + t2)), V = 4e-4, t2 = 2.5e-3, d = 0.05.
    v, t2 = 0.0004, 0.0025
    log_ratio = 0.5 * math.log(v / (v + t2)) + t2 * 0.0025 / (2 * v * (v + t2))
    assert two_sided == pytest.approx(math.exp(-log_ratio))
    # The half-normal mixture: times 2 P(effect > 0) under the posterior N(t2 d / (V + t2),
    # V t2 / (V + t2)) = N(0.0431, 0.0186^2): 2 * Phi(2.32) = 1.98.
    mean, sd = t2 * 0.05 / (v + t2), math.sqrt(v * t2 / (v + t2))
    share = 0.5 * math.erfc(-mean / (sd * math.sqrt(2)))
    assert share == pytest.approx(0.9898, abs=1e-4)
    assert right_side == pytest.approx(two_sided / (2 * share))
    assert wrong_side == 1.0


def evidence(
    cand: tuple[int, int, int, int],
    base: tuple[int, int, int, int],
    share: float = 0.05,
    latencies: list[float] | None = None,
    drift: bool = False,
) -> Evidence:
    """One split: (requests, labelled, correct, failures) for candidate v3 and baseline v2."""
    return Evidence(
        [EpochCount(7, "v3", *cand), EpochCount(7, "v2", *base)],
        7,
        {"v3": share, "v2": 1 - share},
        FAST if latencies is None else latencies,
        drift,
    )


def run(plan: Plan, ev: Evidence, step: int = 0, minutes: float = 1.0) -> Any:
    return decide(plan, step, minutes, plan.steps[step], ev, random.Random(0))


PLAN_OBJ = parse_plan(PLAN, SERVED)


def test_holds_until_the_error_rate_is_shown_low_enough() -> None:
    # 100 error-free requests: 95% upper bound 2.6% > 1%; 400: 0.67%.
    few = run(PLAN_OBJ, evidence((100, 100, 100, 0), (1900, 1900, 1520, 0)))
    assert few.action == HOLD
    assert "error_rate" in few.reason
    enough = run(PLAN_OBJ, evidence((400, 300, 300, 0), (7600, 300, 240, 0)))
    assert enough.action == ADVANCE
    assert enough.weights == {"v3": 0.25, "v2": 0.75}
    assert enough.step == 1


def test_a_clearly_failing_candidate_is_rolled_back_at_once() -> None:
    # 10 failures in 200 attempts: the 99.9% lower bound (2.4%) is above 1%.
    decision = run(PLAN_OBJ, evidence((190, 10, 9, 10), (3800, 190, 171, 0)))
    assert decision.action == ROLLBACK
    assert "error rate 5.00% (10 of 200)" in decision.reason


def test_a_slow_candidate_is_rolled_back() -> None:
    decision = run(
        PLAN_OBJ, evidence((400, 300, 300, 0), (7600, 300, 240, 0), latencies=[80.0] * 100)
    )
    assert decision.action == ROLLBACK
    assert "p99 latency 80.0 ms" in decision.reason


def test_a_worse_candidate_is_rolled_back_by_the_accuracy_test() -> None:
    decision = run(PLAN_OBJ, evidence((400, 300, 150, 0), (7600, 300, 270, 0)))
    assert decision.action == ROLLBACK
    assert "shown worse" in decision.reason


def test_equal_accuracy_without_enough_labels_holds() -> None:
    decision = run(PLAN_OBJ, evidence((400, 300, 270, 0), (7600, 300, 270, 0)))
    assert decision.action == HOLD
    assert "accuracy" in decision.reason


def test_drift_and_a_sample_ratio_mismatch_hold_the_step() -> None:
    held = run(PLAN_OBJ, evidence((400, 300, 300, 0), (7600, 300, 240, 0), drift=True))
    assert held.action == HOLD
    assert "drift" in held.reason
    # 4,000 of 8,000 requests went to a 5% candidate. Sticky users make requests dependent, so a
    # mismatch holds (a person looks) rather than rolls back.
    mismatch = run(PLAN_OBJ, evidence((4000, 300, 300, 0), (4000, 300, 240, 0)))
    assert mismatch.action == HOLD
    assert "sample_ratio" in mismatch.reason


def test_a_retrained_candidate_is_not_held_by_the_drift_it_answers() -> None:
    plan = parse_plan({**PLAN, "hold_on_drift": False}, SERVED)
    decision = run(plan, evidence((400, 300, 300, 0), (7600, 300, 240, 0), drift=True))
    assert decision.action != HOLD
    drift = next(check for check in decision.checks if check.name == "drift")
    assert drift.ok
    assert "not holding" in drift.detail
    with pytest.raises(InvalidRollout, match="hold_on_drift"):
        parse_plan({**PLAN, "hold_on_drift": "no"}, SERVED)


def test_labels_and_minutes_per_step_gate_the_advance() -> None:
    plan = parse_plan({**PLAN, "min_labels_per_step": 1000, "min_minutes_per_step": 30}, SERVED)
    decision = run(plan, evidence((400, 300, 300, 0), (7600, 300, 240, 0)), minutes=10)
    assert decision.action == HOLD
    assert "labels" in decision.reason
    assert "minutes" in decision.reason


def test_the_last_step_promotes() -> None:
    decision = run(PLAN_OBJ, evidence((4000, 300, 300, 0), (4000, 300, 240, 0), share=0.5), step=2)
    assert decision.action == PROMOTE
    assert decision.weights == {"v3": 1.0}


def test_a_retrain_plan_promotes_only_a_candidate_shown_better() -> None:
    from mlops_pipeline.retraining.service import ROLLOUT_MAX_LABELS, retrain_plan

    plan = parse_plan(retrain_plan("v3", "v2"), SERVED)
    assert (plan.guardrails.max_accuracy_drop, plan.max_labels) == (0.0, ROLLOUT_MAX_LABELS)
    assert not plan.hold_on_drift
    # Equal accuracy (80% each) on 300 + 300 labels: not shown better, so it holds.
    held = run(plan, evidence((4000, 300, 240, 0), (4000, 300, 240, 0), share=0.5), step=2)
    assert held.action == HOLD
    assert "accuracy" in held.reason
    # 100% vs 80%: shown better, promoted, and the reason says so.
    better = run(plan, evidence((4000, 300, 300, 0), (4000, 300, 240, 0), share=0.5), step=2)
    assert better.action == PROMOTE
    assert "shown better than the baseline" in better.reason
    # Still equal at 2,600 + 2,600 labels, past max_labels: it ends, rolled back.
    ended = run(plan, evidence((9000, 2600, 2080, 0), (9000, 2600, 2080, 0), share=0.5), step=2)
    assert ended.action == ROLLBACK
    assert f"not shown better than the baseline within {ROLLOUT_MAX_LABELS} labels" in ended.reason
    with pytest.raises(InvalidRollout, match="max_labels"):
        parse_plan({**PLAN, "max_labels": 10}, SERVED)


def test_thompson_moves_towards_the_better_version_by_at_most_max_change() -> None:
    plan = parse_plan({**PLAN, "policy": "thompson", "max_change": 0.1}, SERVED)
    decision = decide(
        plan, 0, 1.0, 0.05, evidence((90, 90, 80, 0), (1800, 120, 100, 0)), random.Random(1)
    )
    assert decision.action == WEIGHTS
    assert decision.weights == {"v3": pytest.approx(0.15), "v2": pytest.approx(0.85)}


def test_bandit_functions_by_hand() -> None:
    assert next_share(0.5, 1.0, 0.05, 0.1) == 0.6
    assert next_share(0.9, 1.0, 0.05, 0.2) == 0.95  # the floor keeps 5% for the other
    assert next_share(0.5, 0.0, 0.05, 1.0) == 0.05
    # Beta(2, 1) vs Beta(1, 2): P(X > Y) = 5/6.
    assert probability_better(1, 1, 0, 1, random.Random(3), draws=20_000) == pytest.approx(
        5 / 6, abs=0.01
    )
