"""Drift statistics: pure functions comparing a window of live rows with the training reference.

Tests, each giving a p-value:
- per feature, two-sample Kolmogorov-Smirnov (any change of distribution, strongest for shifts);
- per feature, Brown-Forsythe (median-centred Levene: a change of spread, e.g. scale x1.5);
- predicted classes, chi-square against the out-of-fold shares of the version that answered;
- bad values: rejected inputs plus accepted values far outside the training range, binomial
  against a tolerated background rate.
Holm's correction makes them one family; the smallest adjusted p-value becomes the score.
PSI is reported per feature for people used to it; it drives nothing (with ~120 reference rows
and 100-row windows it swings without drift).
"""

from __future__ import annotations

import math
from collections.abc import Mapping, Sequence
from dataclasses import asdict, dataclass
from typing import TYPE_CHECKING, Any

import numpy as np
from numpy.typing import NDArray

if TYPE_CHECKING:  # typed_drift.py imports this module
    from mlops_pipeline.monitoring.typed_drift import ColumnDrift

# Adjusted p-value at which the score reaches 1; the score is log-scaled between 1 and this.
SCORE_P_FLOOR = 1e-4
# Accepted values farther than this many training ranges beyond min/max count as bad values.
RANGE_MARGIN = 0.5
# Background rate of bad values tolerated before they count as drift.
BAD_VALUE_RATE = 0.01


@dataclass(frozen=True)
class Reference:
    feature_names: tuple[str, ...]
    class_names: tuple[str, ...]
    sample: NDArray[np.float64]  # (n, n_features) training rows
    low: NDArray[np.float64]  # per feature: values below count as bad
    high: NDArray[np.float64]
    psi_edges: tuple[NDArray[np.float64], ...]  # per feature: inner bin edges
    class_shares: Mapping[str, NDArray[np.float64]]  # per version: out-of-fold predicted shares

    @classmethod
    def from_training_stats(cls, stats: Mapping[str, Any]) -> Reference:
        if stats.get("sample") is None:
            raise ValueError("training statistics hold no reference sample (too many rows)")
        sample = np.asarray(stats["sample"], dtype=np.float64)
        names = tuple(stats["feature_names"])
        minimum = np.array([stats["features"][name]["min"] for name in names])
        maximum = np.array([stats["features"][name]["max"] for name in names])
        margin = RANGE_MARGIN * (maximum - minimum)
        n_classes = len(stats["class_names"])
        shares = {
            version: smoothed_shares(np.asarray(values) * len(sample), n_classes)
            for version, values in stats["predicted_class_shares"].items()
        }
        return cls(
            feature_names=names,
            class_names=tuple(stats["class_names"]),
            sample=sample,
            low=minimum - margin,
            high=maximum + margin,
            psi_edges=tuple(
                np.unique(np.quantile(sample[:, i], np.linspace(0.1, 0.9, 9)))
                for i in range(len(names))
            ),
            class_shares=shares,
        )


@dataclass(frozen=True)
class Window:
    """The most recent answered rows, plus inputs rejected while they arrived."""

    features: NDArray[np.float64]  # (n, n_features)
    predictions: NDArray[np.int64]  # (n,)
    versions: Sequence[str]  # (n,) version that answered each row
    rejected: int = 0

    @property
    def size(self) -> int:
        return len(self.predictions)


def smoothed_shares(counts: NDArray[np.float64], n_classes: int) -> NDArray[np.float64]:
    """Shares with half a count added per class, so no class is expected never to appear."""
    padded = np.asarray(counts, dtype=np.float64)[:n_classes] + 0.5
    return np.asarray(padded / padded.sum(), dtype=np.float64)


def holm(pvalues: Sequence[float]) -> list[float]:
    """Holm-Bonferroni adjusted p-values, in the order given."""
    m = len(pvalues)
    order = sorted(range(m), key=lambda i: pvalues[i])
    adjusted = [1.0] * m
    running = 0.0
    for rank, index in enumerate(order):
        running = max(running, min(1.0, (m - rank) * pvalues[index]))
        adjusted[index] = running
    return adjusted


def score_from_pvalue(pvalue: float) -> float:
    """0 for p = 1, 0.5 for p = 0.01, 1 for p <= SCORE_P_FLOOR (log scale in between)."""
    if pvalue <= SCORE_P_FLOOR:
        return 1.0
    return min(1.0, max(0.0, math.log10(1 / pvalue) / math.log10(1 / SCORE_P_FLOOR)))


def psi(
    reference: NDArray[np.float64], current: NDArray[np.float64], edges: NDArray[np.float64]
) -> float:
    """Population stability index over bins cut at ``edges`` (shares floored at 1e-4)."""
    ref_share = np.bincount(
        np.searchsorted(edges, reference, side="right"), minlength=len(edges) + 1
    )
    cur_share = np.bincount(np.searchsorted(edges, current, side="right"), minlength=len(edges) + 1)
    ref = np.maximum(ref_share / ref_share.sum(), 1e-4)
    cur = np.maximum(cur_share / cur_share.sum(), 1e-4)
    return float(np.sum((cur - ref) * np.log(cur / ref)))


def ks_pvalue(reference: NDArray[np.float64], current: NDArray[np.float64]) -> tuple[float, float]:
    from scipy.stats import ks_2samp

    result = ks_2samp(reference, current, method="asymp")
    return float(result.statistic), float(result.pvalue)


def scale_pvalue(reference: NDArray[np.float64], current: NDArray[np.float64]) -> float:
    from scipy.stats import levene

    if np.ptp(reference) == 0 and np.ptp(current) == 0:
        return 1.0 if reference[0] == current[0] else 0.0
    with np.errstate(all="ignore"):  # absurd inputs overflow; the p-value is then 0 or NaN
        pvalue = float(levene(reference, current, center="median").pvalue)
    return 1.0 if math.isnan(pvalue) else pvalue


def class_pvalue(reference: Reference, window: Window) -> tuple[float, list[float], list[float]]:
    """Chi-square of predicted classes against the answering versions' out-of-fold shares."""
    return class_test(
        len(reference.class_names), reference.class_shares, window.predictions, window.versions
    )


def class_test(
    n_classes: int,
    class_shares: Mapping[str, NDArray[np.float64]],
    predictions: NDArray[np.int64],
    versions: Sequence[str],
) -> tuple[float, list[float], list[float]]:
    """class_pvalue on plain values, shared with typed drift (typed_drift.py)."""
    from scipy.stats import chisquare

    known = list(class_shares.values())
    # A version the reference has no shares for (registered later) is expected to predict like
    # the versions it has: their mean is closer to the data's classes than a uniform guess.
    fallback = np.mean(known, axis=0) if known else np.full(n_classes, 1 / n_classes)
    expected = np.zeros(n_classes)
    for version in set(versions):
        count = sum(1 for v in versions if v == version)
        expected += count * np.asarray(class_shares.get(version, fallback))
    observed = np.bincount(predictions, minlength=n_classes)[:n_classes].astype(float)
    pvalue = float(chisquare(observed, expected).pvalue)
    return pvalue, (observed / len(predictions)).tolist(), (expected / len(predictions)).tolist()


def bad_value_pvalue(bad: int, total: int, rate: float = BAD_VALUE_RATE) -> float:
    """P(at least ``bad`` of ``total``) when each is bad with probability ``rate``."""
    from scipy.stats import binom

    return 1.0 if bad == 0 else float(binom.sf(bad - 1, total, rate))


def finite_or_none(value: float) -> float | None:
    """JSON has no infinity: statistics of absurd (yet finite) inputs overflow to None."""
    number = float(value)
    return number if math.isfinite(number) else None


@dataclass(frozen=True)
class FeatureDrift:
    ks_statistic: float
    ks_pvalue: float
    scale_pvalue: float
    adjusted_pvalue: float  # Holm-adjusted, the smaller of the feature's two tests
    psi: float
    mean: float | None
    std: float | None
    reference_mean: float
    reference_std: float
    out_of_range: int


@dataclass(frozen=True)
class PredictionDrift:
    pvalue: float
    adjusted_pvalue: float
    observed_shares: dict[str, float]
    expected_shares: dict[str, float]


@dataclass(frozen=True)
class BadValues:
    rejected: int
    out_of_range_rows: int
    pvalue: float
    adjusted_pvalue: float


@dataclass(frozen=True)
class DriftReport:
    """The drift state; the tests' details are None while the window is warming up."""

    status: str  # ok, drift or warming_up
    score: float
    drift: bool
    window_size: int
    min_window: int
    threshold: float
    computed_at: float
    tests: int | None = None
    features: dict[str, FeatureDrift] | None = None
    prediction: PredictionDrift | None = None
    bad_values: BadValues | None = None
    reference: str | None = None  # whose training data: "training data" or a registered version
    # Typed schemas (typed_drift.py): per column its type and tests; ``features`` is then None.
    columns: dict[str, ColumnDrift] | None = None

    def to_json(self) -> dict[str, Any]:
        """JSON-ready, without the details a warming-up report does not have."""
        return {key: value for key, value in asdict(self).items() if value is not None}


def drift_report(
    reference: Reference, window: Window, threshold: float, min_window: int, computed_at: float
) -> DriftReport:
    """The full drift state; ``status`` is ok, drift or warming_up."""
    if window.size < min_window:
        return DriftReport(
            "warming_up", 0.0, False, window.size, min_window, threshold, computed_at
        )

    names = reference.feature_names
    ks = [ks_pvalue(reference.sample[:, i], window.features[:, i]) for i in range(len(names))]
    scale = [scale_pvalue(reference.sample[:, i], window.features[:, i]) for i in range(len(names))]
    class_p, observed_shares, expected_shares = class_pvalue(reference, window)
    out_of_range = (window.features < reference.low) | (window.features > reference.high)
    bad_rows = int(out_of_range.any(axis=1).sum()) + window.rejected
    bad_p = bad_value_pvalue(bad_rows, window.size + window.rejected)

    raw = [p for _, p in ks] + scale + [class_p, bad_p]
    adjusted = holm(raw)
    k = len(names)
    score = score_from_pvalue(min(adjusted))
    features = {
        name: FeatureDrift(
            ks_statistic=ks[i][0],
            ks_pvalue=ks[i][1],
            scale_pvalue=scale[i],
            adjusted_pvalue=min(adjusted[i], adjusted[k + i]),
            psi=psi(reference.sample[:, i], window.features[:, i], reference.psi_edges[i]),
            mean=finite_or_none(window.features[:, i].mean()),
            std=finite_or_none(window.features[:, i].std(ddof=1)),
            reference_mean=float(reference.sample[:, i].mean()),
            reference_std=float(reference.sample[:, i].std(ddof=1)),
            out_of_range=int(out_of_range[:, i].sum()),
        )
        for i, name in enumerate(names)
    }
    return DriftReport(
        status="drift" if score >= threshold else "ok",
        score=score,
        drift=score >= threshold,
        window_size=window.size,
        min_window=min_window,
        threshold=threshold,
        computed_at=computed_at,
        tests=len(raw),
        features=features,
        prediction=PredictionDrift(
            pvalue=class_p,
            adjusted_pvalue=adjusted[2 * k],
            observed_shares=dict(zip(reference.class_names, observed_shares, strict=True)),
            expected_shares=dict(zip(reference.class_names, expected_shares, strict=True)),
        ),
        bad_values=BadValues(
            rejected=window.rejected,
            out_of_range_rows=bad_rows - window.rejected,
            pvalue=bad_p,
            adjusted_pvalue=adjusted[2 * k + 1],
        ),
    )
