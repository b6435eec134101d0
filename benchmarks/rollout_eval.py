"""Rollout controller under simulated traffic: how often it rolls back, promotes, and how fast.

Every decision comes from `mlops_pipeline.delivery.controller.decide`, the function
`mlops monitor` runs; only the traffic is simulated. Each tick 100 requests are routed by the
current split; the candidate fails a request with its error rate; an answered request is
labelled with probability --label-rate, correct with the accuracy of the version that
answered. A transition starts a new split (a new stratum), as the stored weights version does.
Run: .venv/bin/python -m benchmarks.rollout_eval [--runs 1000] [--label-rate 0.25]
Prints numbers; asserts nothing.
"""

from __future__ import annotations

import argparse
import random
import statistics
import time
from dataclasses import dataclass

import numpy as np

from mlops_pipeline.delivery.controller import (
    HOLD,
    PROMOTE,
    ROLLBACK,
    Evidence,
    decide,
)
from mlops_pipeline.rollout_plan import Plan, parse_plan
from mlops_pipeline.storage.records import EpochCount

BASELINE_ACCURACY = 0.90
TICK_REQUESTS = 100
MAX_LABELS = 10_000
LATENCIES = [1.0] * 100


@dataclass
class Outcome:
    state: str  # promoted | rolled_back | running
    labels: int  # labels collected when it ended (or the cap)
    max_share: float  # the largest candidate share reached
    rolled_back_at_step: int | None
    reason: str
    regret: float = 0.0  # expected wrong answers beyond always serving the better version
    requests: int = 0


def simulate(
    plan: Plan, candidate_accuracy: float, error_rate: float, label_rate: float, seed: int
) -> Outcome:
    rng = np.random.default_rng(seed)
    decision_rng = random.Random(seed)
    epochs: dict[tuple[int, str], EpochCount] = {}
    epoch, step = 1, 0
    share = plan.floor if plan.policy == "thompson" else plan.steps[0]
    labels = requests = 0
    max_share = share
    best = max(candidate_accuracy, BASELINE_ACCURACY)
    regret = 0.0
    while labels < MAX_LABELS:
        n_cand = int(rng.binomial(TICK_REQUESTS, share))
        for version, n, accuracy, errors in (
            (plan.candidate, n_cand, candidate_accuracy, error_rate),
            (plan.baseline, TICK_REQUESTS - n_cand, BASELINE_ACCURACY, 0.0),
        ):
            failed = int(rng.binomial(n, errors))
            answered = n - failed
            labelled = int(rng.binomial(answered, label_rate))
            correct = int(rng.binomial(labelled, accuracy))
            old = epochs.get((epoch, version), EpochCount(epoch, version))
            epochs[(epoch, version)] = EpochCount(
                epoch, version, old.requests + answered, old.labelled + labelled,
                old.correct + correct, old.failures + failed,
            )  # fmt: skip
            labels += labelled
            regret += n * (best - accuracy)
        requests += TICK_REQUESTS
        weights = {plan.candidate: share, plan.baseline: 1 - share}
        evidence = Evidence(list(epochs.values()), epoch, weights, LATENCIES)
        decision = decide(plan, step, 0.0, share, evidence, decision_rng)
        if decision.action == HOLD:
            continue
        if decision.action == ROLLBACK:
            return Outcome(
                "rolled_back", labels, max_share, step, decision.reason, regret, requests
            )
        if decision.action == PROMOTE:
            return Outcome("promoted", labels, max_share, None, decision.reason, regret, requests)
        assert decision.weights is not None
        share, step, epoch = decision.weights[plan.candidate], decision.step, epoch + 1
        max_share = max(max_share, share)
    return Outcome("running", labels, max_share, None, "cap", regret, requests)


def fixed_split_regret(candidate_accuracy: float, requests: int) -> float:
    """Expected wrong answers beyond the better version's, serving 50/50 for ``requests``."""
    return requests * 0.5 * abs(candidate_accuracy - BASELINE_ACCURACY)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--runs", type=int, default=1000)
    parser.add_argument("--label-rate", type=float, default=0.25)
    parser.add_argument("--policy", choices=["steps", "thompson", "both"], default="both")
    args = parser.parse_args()
    guardrails = {"max_error_rate": 0.01, "max_p99_ms": 50, "max_accuracy_drop": 0.02}
    base = {
        "candidate": "v3",
        "baseline": "v2",
        "steps": [0.05, 0.25, 0.5, 1.0],
        "min_labels_per_step": 200,
        "min_minutes_per_step": 0,
        "guardrails": guardrails,
    }
    rows = [
        ("candidate 10 points worse", BASELINE_ACCURACY - 0.10, 0.0),
        ("candidate equal", BASELINE_ACCURACY, 0.0),
        ("candidate 5 points better", BASELINE_ACCURACY + 0.05, 0.0),
        ("candidate with a 5% error rate", BASELINE_ACCURACY, 0.05),
    ]
    policies = ["steps", "thompson"] if args.policy == "both" else [args.policy]
    print(
        f"{args.runs} simulated rollouts per row; baseline accuracy {BASELINE_ACCURACY:.0%};"
        f" {TICK_REQUESTS} requests per decision, {args.label_rate:.0%} of answers labelled;"
        f" plan {base['steps']}, {base['min_labels_per_step']} labels per step, margin 2 points"
    )
    for policy in policies:
        plan = parse_plan({**base, "policy": policy}, ["v2", "v3"])
        print(f"\npolicy {policy}:")
        print(
            "| row | rolled back | promoted | running at cap | median labels to end |"
            " rolled back below 50% | accuracy test rollbacks | promoted within 4,000 labels |"
        )
        print("|---|---:|---:|---:|---:|---:|---:|---:|")
        for name, accuracy, errors in rows:
            started = time.perf_counter()
            outcomes = [
                simulate(plan, accuracy, errors, args.label_rate, seed) for seed in range(args.runs)
            ]
            n = len(outcomes)
            back = [o for o in outcomes if o.state == "rolled_back"]
            promoted = [o for o in outcomes if o.state == "promoted"]
            ended = [o.labels for o in outcomes if o.state != "running"]
            early = sum(1 for o in back if o.max_share < 0.5)
            by_accuracy = sum(1 for o in back if "shown worse" in o.reason)
            fast = sum(1 for o in promoted if o.labels <= 4000)
            first_step = sum(1 for o in back if o.rolled_back_at_step == 0)
            median = statistics.median(ended) if ended else float("nan")
            print(
                f"| {name} | {len(back) / n:.1%} | {len(promoted) / n:.1%} |"
                f" {(n - len(back) - len(promoted)) / n:.1%} | {median:,.0f} |"
                f" {early / n:.1%} | {by_accuracy / n:.1%} | {fast / n:.1%} |"
                f"  ({first_step / n:.1%} at the first step; {time.perf_counter() - started:.0f} s)"
            )
            if policy == "thompson" and errors == 0.0 and accuracy != BASELINE_ACCURACY:
                mean_regret = statistics.mean(o.regret for o in outcomes)
                mean_requests = statistics.mean(o.requests for o in outcomes)
                fixed = fixed_split_regret(accuracy, int(mean_requests))
                print(
                    f"    regret over {mean_requests:,.0f} requests: thompson {mean_regret:,.0f}"
                    f" wrong answers beyond the better version; fixed 50/50 {fixed:,.0f}"
                )


if __name__ == "__main__":
    main()
