"""The rollout decision: evidence in, one action out. Pure: no storage, no clock, no HTTP.

`mlops monitor` runs it every few seconds for the running rollout (delivery/service.py applies
the result); benchmarks/rollout_eval.py runs the same function over simulated traffic.
"""

from __future__ import annotations

import random
from dataclasses import dataclass, replace

from mlops_pipeline.delivery.bandit import next_share, probability_better
from mlops_pipeline.delivery.decision import (
    ADVANCE,
    HOLD,
    PROMOTE,
    ROLLBACK,
    WEIGHTS,
    Check,
    Decision,
    Evidence,
    Summary,
)
from mlops_pipeline.experiment.statistics import (
    Stratum,
    msprt_pvalue,
    rate_bounds,
    sample_ratio_pvalue,
    stratified_difference,
)
from mlops_pipeline.rollout_plan import THOMPSON, Plan
from mlops_pipeline.storage.records import EpochCount

# A breach must be clear, since every look could raise a false alarm: error rates are judged by
# a one-sided 99.9% bound (z = 3.09); a sample-ratio p-value below 1e-6 holds the step.
BREACH_Z, HOLD_Z = 3.09, 1.645
SRM_ALPHA = 1e-6
MIN_LATENCY_SAMPLES = 50
TAU = 0.05  # the mSPRT mixture's spread: effects of a few accuracy points


def decide(
    plan: Plan,
    step: int,
    minutes_in_step: float,
    current_share: float,
    evidence: Evidence,
    rng: random.Random,
) -> Decision:
    totals = _totals(plan, evidence)
    checks, breaches = _guardrails(plan, totals, evidence)
    strata = [Stratum(b.labelled, b.correct, c.labelled, c.correct) for b, c in totals.pairs]
    difference, variance, n_base, n_cand = stratified_difference(strata)
    margin = plan.guardrails.max_accuracy_drop
    p_worse = msprt_pvalue(difference, variance, 0.0, TAU, side=-1)
    p_inferior = msprt_pvalue(difference, variance, -margin, TAU, side=+1)
    shown_worse = difference < 0 and p_worse <= plan.alpha
    not_inferior = difference > -margin and p_inferior <= plan.alpha
    checks.append(
        Check("accuracy", not shown_worse and not_inferior, round(difference, 4), -margin,
              f"candidate - baseline {difference:+.1%} over {n_cand} + {n_base} labels;"
              f" shown not worse by more than {margin:.0%}: {not_inferior}"
              f" (p = {p_inferior:.2g}); shown worse: {shown_worse} (p = {p_worse:.2g})")
    )  # fmt: skip
    summary = Summary(
        round(difference, 6),
        {plan.candidate: n_cand, plan.baseline: n_base},
        totals.step_labels,
        p_worse,
        p_inferior,
    )
    if breaches:
        return Decision(ROLLBACK, "; ".join(breaches), None, step, checks, summary)
    if shown_worse:
        reason = (
            f"candidate shown worse than the baseline: {difference:+.1%}"
            f" (always-valid p = {p_worse:.2g} <= {plan.alpha})"
        )
        return Decision(ROLLBACK, reason, None, step, checks, summary)
    if plan.max_labels is not None and n_cand + n_base >= plan.max_labels and not not_inferior:
        claim = "better than" if margin == 0 else f"within {margin:.0%} of"
        reason = (
            f"candidate not shown {claim} the baseline within {plan.max_labels} labels"
            f" ({difference:+.1%}, p = {p_inferior:.2g})"
        )
        return Decision(ROLLBACK, reason, None, step, checks, summary)
    if plan.policy == THOMPSON:
        return _thompson(plan, step, current_share, totals, checks, summary, rng)
    return _steps(plan, step, minutes_in_step, totals, checks, summary)


def _steps(
    plan: Plan,
    step: int,
    minutes_in_step: float,
    totals: _Totals,
    checks: list[Check],
    summary: Summary,
) -> Decision:
    checks.append(
        Check("labels", totals.step_labels >= plan.min_labels_per_step, totals.step_labels,
              plan.min_labels_per_step, "labels collected in this step")
    )  # fmt: skip
    checks.append(
        Check("minutes", minutes_in_step >= plan.min_minutes_per_step, round(minutes_in_step, 2),
              plan.min_minutes_per_step, "minutes in this step")
    )  # fmt: skip
    waiting = [c for c in checks if not c.ok]
    if waiting:
        reason = "holding at {:.0%}: {}".format(
            plan.steps[step], "; ".join(f"{c.name}: {c.detail}" for c in waiting)
        )
        return Decision(HOLD, reason, None, step, checks, summary)
    if step + 1 >= len(plan.steps) or plan.steps[step + 1] >= 1.0:
        shown = (
            "shown better than the baseline"
            if plan.guardrails.max_accuracy_drop == 0
            else f"not worse than the baseline by more than {plan.guardrails.max_accuracy_drop:.0%}"
        )
        reason = (
            f"promoted: every guardrail held and the candidate is {shown}"
            f" ({summary.difference:+.1%})"
        )
        return Decision(
            PROMOTE, reason, {plan.candidate: 1.0}, len(plan.steps) - 1, checks, summary
        )
    reason = f"advanced to {plan.steps[step + 1]:.0%}: every check held at {plan.steps[step]:.0%}"
    return Decision(ADVANCE, reason, plan.step_weights(step + 1), step + 1, checks, summary)


def _thompson(
    plan: Plan,
    step: int,
    current_share: float,
    totals: _Totals,
    checks: list[Check],
    summary: Summary,
    rng: random.Random,
) -> Decision:
    cand, base = totals.candidate, totals.baseline
    better = probability_better(cand.correct, cand.labelled, base.correct, base.labelled, rng)
    summary = replace(summary, probability_better=round(better, 4))
    held = all(c.ok for c in checks if c.name != "accuracy")
    accuracy = next(c for c in checks if c.name == "accuracy")
    if held and accuracy.ok and better >= 1 - plan.alpha:
        reason = f"promoted: P(candidate better) = {better:.1%}, not worse by more than the margin"
        return Decision(PROMOTE, reason, {plan.candidate: 1.0}, step + 1, checks, summary)
    if totals.step_labels < plan.min_labels_per_step:
        reason = (
            f"collecting labels for the next update"
            f" ({totals.step_labels} of {plan.min_labels_per_step})"
        )
        return Decision(HOLD, reason, None, step, checks, summary)
    share = next_share(current_share, better, plan.floor, plan.max_change)
    if abs(share - current_share) < 0.005:
        return Decision(
            HOLD, f"weights unchanged at {current_share:.1%}", None, step, checks, summary
        )
    weights = plan.split(share)
    reason = f"candidate share {current_share:.1%} -> {share:.1%} (P(better) = {better:.1%})"
    return Decision(WEIGHTS, reason, weights, step + 1, checks, summary)


@dataclass(frozen=True)
class _Arm:
    requests: int = 0
    labelled: int = 0
    correct: int = 0
    failures: int = 0


@dataclass(frozen=True)
class _Totals:
    candidate: _Arm  # the whole rollout
    baseline: _Arm
    step_candidate: _Arm  # the current step's split only
    step_baseline: _Arm
    pairs: list[tuple[EpochCount, EpochCount]]  # (baseline, candidate) per split: the strata

    @property
    def step_labels(self) -> int:
        return self.step_candidate.labelled + self.step_baseline.labelled


def _totals(plan: Plan, evidence: Evidence) -> _Totals:
    by_epoch: dict[int, dict[str, EpochCount]] = {}
    for count in evidence.epochs:
        by_epoch.setdefault(count.weights_version, {})[count.version] = count

    def arm(version: str, epochs: list[int] | None = None) -> _Arm:
        chosen = [
            by_epoch[e][version]
            for e in (epochs or list(by_epoch))
            if version in by_epoch.get(e, {})
        ]
        return _Arm(
            sum(c.requests for c in chosen), sum(c.labelled for c in chosen),
            sum(c.correct for c in chosen), sum(c.failures for c in chosen),
        )  # fmt: skip

    empty = EpochCount(0, "")
    pairs = [(e.get(plan.baseline, empty), e.get(plan.candidate, empty)) for e in by_epoch.values()]
    step_epoch = [evidence.step_weights_version]
    step_c, step_b = arm(plan.candidate, step_epoch), arm(plan.baseline, step_epoch)
    return _Totals(arm(plan.candidate), arm(plan.baseline), step_c, step_b, pairs)


def _guardrails(plan: Plan, totals: _Totals, evidence: Evidence) -> tuple[list[Check], list[str]]:
    """Checks that must hold to advance, and the breaches that roll back at once."""
    limits, checks, breaches = plan.guardrails, [], []
    cand = totals.candidate
    attempts = cand.requests + cand.failures
    rate = cand.failures / attempts if attempts else 0.0
    low, _ = rate_bounds(cand.failures, attempts, BREACH_Z)
    _, high = rate_bounds(cand.failures, attempts, HOLD_Z)
    if attempts and low > limits.max_error_rate:
        breaches.append(
            f"candidate error rate {rate:.2%} ({cand.failures} of {attempts}) is above"
            f" {limits.max_error_rate:.2%}"
        )
    checks.append(
        Check("error_rate", high <= limits.max_error_rate, round(rate, 6), limits.max_error_rate,
              f"{cand.failures} failed of {attempts}; 95% upper bound {high:.2%}")
    )  # fmt: skip
    latencies = sorted(evidence.candidate_latencies_ms)
    p99 = latencies[min(len(latencies) - 1, int(0.99 * len(latencies)))] if latencies else None
    enough = len(latencies) >= MIN_LATENCY_SAMPLES
    if (
        enough
        and p99 is not None
        and p99 > limits.max_p99_ms
        and len(latencies) >= 2 * MIN_LATENCY_SAMPLES
    ):
        breaches.append(f"candidate p99 latency {p99:.1f} ms is above {limits.max_p99_ms:g} ms")
    checks.append(
        Check("p99_ms", enough and p99 is not None and p99 <= limits.max_p99_ms, p99,
              limits.max_p99_ms, f"{len(latencies)} requests in this step")
    )  # fmt: skip
    step_c, step_b = totals.step_candidate, totals.step_baseline
    observed = {plan.candidate: step_c.requests, plan.baseline: step_b.requests}
    if evidence.step_units is not None:
        units = evidence.step_units
        observed = {v: units.get(v, 0) for v in (plan.candidate, plan.baseline)}
    srm = 1.0
    if sum(observed.values()) >= 100:
        shares = {v: evidence.step_weights.get(v, 0.0) for v in observed}
        srm = sample_ratio_pvalue(observed, shares)
    # A mismatch holds the step rather than roll back: requests of sticky users are not
    # independent (one heavy user is many requests on one version), so the test can also fire
    # when routing is fine; a person reads the reason and the traffic.
    checks.append(Check("sample_ratio", srm >= SRM_ALPHA, srm, SRM_ALPHA, f"observed {observed}"))
    if not evidence.drift_alarm:
        drift = Check("drift", True, None, None, "no drift alarm")
    elif plan.hold_on_drift:
        drift = Check("drift", False, None, None, "drift alarm: holding")
    else:  # a candidate retrained on the drifted traffic: the drift is what it answers
        drift = Check("drift", True, None, None, "drift alarm (not holding: hold_on_drift off)")
    checks.append(drift)
    return checks, breaches
