"""A/B verdict statistics: pure functions on counts and label sequences.

The comparison uses a mixture sequential probability ratio test (mSPRT; Johari, Pekelis and
Walsh, "Always Valid Inference", 2017): its p-value may be looked at after every label without
inflating the false-winner rate, unlike a fixed-horizon test re-run on each look.
"""

from __future__ import annotations

import math
from collections.abc import Mapping, Sequence
from dataclasses import dataclass

import numpy as np
from numpy.typing import NDArray

Z95 = 1.959963984540054


def wilson_interval(successes: int, n: int, z: float = Z95) -> tuple[float, float]:
    """Wilson score interval for a proportion; (0, 1) when there is no data."""
    if n == 0:
        return 0.0, 1.0
    p = successes / n
    denominator = 1 + z * z / n
    centre = (p + z * z / (2 * n)) / denominator
    half = z * math.sqrt(p * (1 - p) / n + z * z / (4 * n * n)) / denominator
    return max(0.0, centre - half), min(1.0, centre + half)


def newcombe_difference(
    successes_a: int, n_a: int, successes_b: int, n_b: int, z: float = Z95
) -> tuple[float, float, float]:
    """Difference p_b - p_a with Newcombe's hybrid score interval (method 10)."""
    if n_a == 0 or n_b == 0:
        return 0.0, -1.0, 1.0
    p_a, p_b = successes_a / n_a, successes_b / n_b
    low_a, high_a = wilson_interval(successes_a, n_a, z)
    low_b, high_b = wilson_interval(successes_b, n_b, z)
    difference = p_b - p_a
    lower = difference - math.sqrt((p_b - low_b) ** 2 + (high_a - p_a) ** 2)
    upper = difference + math.sqrt((high_b - p_b) ** 2 + (p_a - low_a) ** 2)
    return difference, lower, upper


def msprt_pvalues(
    challenger_labels: Sequence[bool] | NDArray[np.bool_],
    correct: Sequence[bool] | NDArray[np.bool_],
    tau: float = 0.1,
    min_per_arm: int = 100,
) -> NDArray[np.float64]:
    """Always-valid p-value after each label, for H0: both versions equally accurate.

    ``challenger_labels[i]`` says whether label i judged the challenger (else the champion) and
    ``correct[i]`` whether that prediction was right, in arrival order. The mixture over effect
    sizes is N(0, tau^2); variances use (s + 1) / (n + 2) so a perfect arm has no zero variance.
    Until both arms have ``min_per_arm`` labels the p-value stays 1.
    """
    arm = np.asarray(challenger_labels, dtype=bool)
    hit = np.asarray(correct, dtype=bool)
    n_b = np.cumsum(arm)
    n_a = np.arange(1, len(arm) + 1) - n_b
    s_b = np.cumsum(hit & arm)
    s_a = np.cumsum(hit & ~arm)
    ready = (n_a >= min_per_arm) & (n_b >= min_per_arm)
    safe_a, safe_b = np.maximum(n_a, 1), np.maximum(n_b, 1)
    difference = s_b / safe_b - s_a / safe_a
    smooth_a, smooth_b = (s_a + 1) / (n_a + 2), (s_b + 1) / (n_b + 2)
    variance = smooth_a * (1 - smooth_a) / safe_a + smooth_b * (1 - smooth_b) / safe_b
    tau2 = tau * tau
    log_ratio = 0.5 * np.log(variance / (variance + tau2)) + tau2 * difference**2 / (
        2 * variance * (variance + tau2)
    )
    pointwise = np.where(ready, np.minimum(1.0, np.exp(-log_ratio)), 1.0)
    return np.asarray(np.minimum.accumulate(pointwise), dtype=np.float64)


@dataclass(frozen=True)
class Decision:
    action: str  # continue | promote | keep
    version: str | None
    reason: str
    significant: bool

    @property
    def label(self) -> str:
        return self.action if self.version is None else f"{self.action} {self.version}"


def decide(
    champion: str,
    challenger: str,
    pvalue: float,
    difference: float,
    labelled: Mapping[str, int],
    alpha: float = 0.05,
    min_per_arm: int = 100,
    max_per_arm: int = 10_000,
) -> Decision:
    """Turn the always-valid p-value and the observed difference into an action."""
    n_champion, n_challenger = labelled.get(champion, 0), labelled.get(challenger, 0)
    if pvalue <= alpha:
        better, worse = (challenger, champion) if difference > 0 else (champion, challenger)
        action = "promote" if better == challenger else "keep"
        return Decision(
            action,
            better,
            f"{better} is more accurate than {worse} by {abs(difference):.1%}"
            f" (always-valid p = {pvalue:.2g} <= {alpha})",
            True,
        )
    if min(n_champion, n_challenger) < min_per_arm:
        return Decision(
            "continue",
            None,
            f"collecting labels: {n_champion} for {champion}, {n_challenger} for {challenger};"
            f" at least {min_per_arm} each before deciding",
            False,
        )
    if min(n_champion, n_challenger) >= max_per_arm:
        return Decision(
            "keep",
            champion,
            f"no difference detected after {max_per_arm} labels each (p = {pvalue:.2g});"
            f" keeping the champion",
            False,
        )
    return Decision(
        "continue",
        None,
        f"no significant difference yet (always-valid p = {pvalue:.2g} > {alpha})",
        False,
    )


def sample_ratio_pvalue(observed: Mapping[str, int], weights: Mapping[str, float]) -> float:
    """Chi-square p-value of traffic per version against the configured weights."""
    from scipy.stats import chisquare

    total = sum(observed.get(version, 0) for version in weights)
    if total == 0:
        return 1.0
    active = [version for version, weight in weights.items() if weight > 0]
    if any(observed.get(version, 0) > 0 for version, w in weights.items() if w == 0):
        return 0.0  # traffic reached a version that should get none
    if len(active) < 2:
        return 1.0
    counts = np.array([observed.get(version, 0) for version in active], dtype=float)
    shares = np.array([weights[version] for version in active], dtype=float)
    expected = shares / shares.sum() * counts.sum()
    return float(chisquare(counts, expected).pvalue)


@dataclass(frozen=True)
class Stratum:
    """Labels of two versions under one fixed split: (labelled, correct) for each."""

    n_a: int
    s_a: int
    n_b: int
    s_b: int


def stratified_difference(strata: Sequence[Stratum]) -> tuple[float, float, int, int]:
    """p_b - p_a combined over strata, its variance, and the labels used for a and b.

    Each stratum is traffic under one fixed split, where allocation did not depend on the
    outcomes being compared; weighting strata by their size (rather than pooling the counts)
    keeps a version that got more traffic while the population was easier from looking better.
    Strata missing either version carry no comparison and are skipped.
    """
    usable = [s for s in strata if s.n_a > 0 and s.n_b > 0]
    total = sum(s.n_a + s.n_b for s in usable)
    if total == 0:
        return 0.0, math.inf, 0, 0
    difference = variance = 0.0
    for s in usable:
        w = (s.n_a + s.n_b) / total
        smooth_a, smooth_b = (s.s_a + 1) / (s.n_a + 2), (s.s_b + 1) / (s.n_b + 2)
        difference += w * (s.s_b / s.n_b - s.s_a / s.n_a)
        variance += w * w * (smooth_a * (1 - smooth_a) / s.n_a + smooth_b * (1 - smooth_b) / s.n_b)
    return difference, variance, sum(s.n_a for s in usable), sum(s.n_b for s in usable)


def msprt_pvalue(
    difference: float, variance: float, null: float = 0.0, tau: float = 0.05, side: int = 0
) -> float:
    """Always-valid p-value of H0: true difference == ``null`` at this look (mSPRT).

    The mixture over effects is N(null, tau^2), or with ``side`` = +1 / -1 only its half above /
    below the null (a one-sided test: the ratio doubles for effects on that side, so a real one
    is shown with fewer labels). Deciding at the first look where p <= alpha keeps the error
    rate at alpha however often one looks: the mixture ratio is a martingale with mean 1 under
    H0 (Johari et al. 2017; for the half-normal mixture, the same integral over half the line).
    """
    if not math.isfinite(variance) or variance <= 0:
        return 1.0
    tau2 = tau * tau
    shifted = difference - null
    log_ratio = 0.5 * math.log(variance / (variance + tau2)) + tau2 * shifted * shifted / (
        2 * variance * (variance + tau2)
    )
    if side:
        # Posterior of the effect under the mixture: mean and sd; the half-line's share of it.
        mean = tau2 * shifted / (variance + tau2)
        sd = math.sqrt(variance * tau2 / (variance + tau2))
        share = 0.5 * math.erfc(-side * mean / (sd * math.sqrt(2)))  # P(effect on that side)
        log_ratio += math.log(max(2 * share, 1e-300))
    return min(1.0, math.exp(-log_ratio))


def rate_bounds(events: int, n: int, z: float) -> tuple[float, float]:
    """Wilson bounds of an event rate (errors per request) at ``z``; (0, 1) with no data."""
    return wilson_interval(events, n, z)
