"""Thompson sampling over two versions' accuracy: pure functions, randomness injected."""

from __future__ import annotations

import random

import numpy as np


def probability_better(
    s_candidate: int, n_candidate: int, s_baseline: int, n_baseline: int, rng: random.Random,
    draws: int = 4000,
) -> float:  # fmt: skip
    """P(candidate accuracy > baseline accuracy) under Beta(1 + s, 1 + n - s) posteriors, by
    ``draws`` paired samples (seeded from ``rng``, so a seeded caller gets the same answer)."""
    generator = np.random.default_rng(rng.getrandbits(64))
    candidate = generator.beta(1 + s_candidate, 1 + n_candidate - s_candidate, draws)
    baseline = generator.beta(1 + s_baseline, 1 + n_baseline - s_baseline, draws)
    return float(np.mean(candidate > baseline))


def next_share(current: float, target: float, floor: float, max_change: float) -> float:
    """The candidate's next share: towards ``target`` by at most ``max_change``, and never
    below ``floor`` for either version (each keeps getting traffic, so each keeps being
    measured and the verdict keeps data from both)."""
    bounded = min(max(target, floor), 1.0 - floor)
    step = max(-max_change, min(max_change, bounded - current))
    return round(current + step, 6)
