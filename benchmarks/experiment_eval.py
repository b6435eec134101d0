"""Simulated A/B experiments checked after every label. Prints numbers; asserts nothing.

A/A: both versions equally accurate; the share of experiments in which the rule ever declares a
winner (promote or keep on significance) within HORIZON labels is the false-winner rate.
A/B: a true 10-point accuracy gap; the share reaching `promote <challenger>` within 2,000 labels.

Run: .venv/bin/python -m benchmarks.experiment_eval [--runs 2000]
"""

from __future__ import annotations

import argparse
import statistics
import time

import numpy as np

from mlops_pipeline.experiment.statistics import msprt_pvalues

ALPHA, TAU, MIN_LABELS = 0.05, 0.05, 100  # the service's defaults


def first_decision(
    rng: np.random.Generator, p_champion: float, p_challenger: float, share: float, labels: int
) -> tuple[int | None, bool]:
    """Label count at the first significant look, and whether the challenger won."""
    arm = rng.random(labels) < share
    correct = np.where(arm, rng.random(labels) < p_challenger, rng.random(labels) < p_champion)
    pvalues = msprt_pvalues(arm, correct, tau=TAU, min_per_arm=MIN_LABELS)
    hits = np.flatnonzero(pvalues <= ALPHA)
    if not len(hits):
        return None, False
    at = int(hits[0])
    wins_b = correct[: at + 1][arm[: at + 1]].mean() > correct[: at + 1][~arm[: at + 1]].mean()
    return at + 1, bool(wins_b)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--runs", type=int, default=2000)
    parser.add_argument("--horizon", type=int, default=5000)
    args = parser.parse_args()
    started = time.perf_counter()
    rng = np.random.default_rng(20261126)
    print(
        f"rule: always-valid mSPRT p <= {ALPHA} (tau {TAU}), at least {MIN_LABELS} labels per"
        f" version, checked after every label; {args.runs} experiments per row"
    )
    print(f"\nA/A (equal accuracy), up to {args.horizon} labels:")
    print(f"  {'accuracy':>8} {'split':>7} {'false winners':>14}")
    for accuracy in (0.5, 0.8, 0.9, 0.95):
        for share in (0.5, 0.2):
            wins = sum(
                first_decision(rng, accuracy, accuracy, share, args.horizon)[0] is not None
                for _ in range(args.runs)
            )
            print(
                f"  {accuracy:>8.2f} {f'{1 - share:.0%}/{share:.0%}':>7} {wins / args.runs:>14.2%}"
            )
    print("\nA/B (challenger 10 points better), up to 2,000 labels:")
    print(f"  {'champion':>8} {'challenger':>10} {'split':>7} {'promote':>8} {'median labels':>14}")
    for p_champion, p_challenger in ((0.80, 0.90), (0.85, 0.95), (0.50, 0.60)):
        for share in (0.5, 0.2):
            results = [
                first_decision(rng, p_champion, p_challenger, share, 2000) for _ in range(args.runs)
            ]
            promoted = [at for at, challenger_won in results if at is not None and challenger_won]
            median = f"{statistics.median(promoted):.0f}" if promoted else "-"
            print(
                f"  {p_champion:>8.2f} {p_challenger:>10.2f} {f'{1 - share:.0%}/{share:.0%}':>7}"
                f" {len(promoted) / args.runs:>8.1%} {median:>14}"
            )
    print(f"\n({time.perf_counter() - started:.0f} s)")


if __name__ == "__main__":
    main()
