"""Drift of a typed schema: one test family per column type, under the one configured threshold.

Per column (each test gives a p-value):
- ``double`` / ``integer``: as for all-numeric models, two-sample Kolmogorov-Smirnov and
  Brown-Forsythe on the values present;
- ``string`` / ``boolean``: chi-square test of homogeneity of the category counts, training
  against the window (a 2 x k table: both are samples, so the training sample's own noise is
  accounted for, which a goodness-of-fit test against fixed shares would not do); for string
  columns also the unseen-category rate, binomial against UNSEEN_RATE;
- every nullable column: its missing-value rate, Fisher's exact test on the 2 x 2 table of
  (missing, present) rows in training and in the window, so a column that arrives empty drifts.
- predicted classes: chi-square test of homogeneity, the window's class counts against the
  reference's out-of-fold counts (``class_homogeneity_test``). All-numeric drift compares them
  with fixed shares, which treats ~270 training rows' shares as exact: on penguins that alone
  raised ~2% false alarms when reference and window are independent draws.
Plus, as for all-numeric models, the bad values (rejections and numbers far outside the training
range).

All p-values form one family under Holm's correction (Bonferroni's step-down form: the smallest
p-value is multiplied by the number of tests), so adding columns does not add false alarms. The
report's score is drift.py's, from the smallest adjusted p-value times LEVEL_SCALE (typed_score),
compared with the one configured threshold; a column drifts when its smallest adjusted p-value
alone would reach it. At the default threshold (0.4) the family-wise level is TYPED_ALPHA (1%);
benchmarks/typed_drift_eval.py measures the false-alarm rate on drift-free penguins traffic
(at most 1%) and the detection of shifts.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass

import numpy as np
from numpy.typing import NDArray

from mlops_pipeline.monitoring.drift import (
    SCORE_P_FLOOR,
    BadValues,
    DriftReport,
    PredictionDrift,
    bad_value_pvalue,
    holm,
    ks_pvalue,
    scale_pvalue,
    score_from_pvalue,
)
from mlops_pipeline.monitoring.typed_reference import NUMERIC, TypedReference, TypedWindow, category

# Unseen categories tolerated before they count as drift (a typo now and then is not a shift).
UNSEEN_RATE = 0.01
# Family-wise level of drift.py's score at the default threshold 0.4: score >= 0.4 <=> p <= 10^-1.6.
FAMILY_ALPHA = SCORE_P_FLOOR**0.4
# The typed family's level at that threshold: the 1% bar. Its tests are near their
# nominal level (two-sample chi-square, KS and Brown-Forsythe on continuous columns), so Holm at
# FAMILY_ALPHA (2.5%) raised 1.2-1.6% false alarms when reference and window are independent
# draws (benchmarks/typed_drift_eval.py). Adjusted p-values are multiplied by LEVEL_SCALE before
# scoring: the same configured threshold, a 1% family; the reported p-values stay Holm's.
TYPED_ALPHA = 0.01
LEVEL_SCALE = FAMILY_ALPHA / TYPED_ALPHA


@dataclass(frozen=True)
class ColumnTest:
    test: str  # ks, scale, chi_square, unseen or missing
    statistic: float
    p_value: float
    adjusted_p_value: float  # Holm, over every test of the report


@dataclass(frozen=True)
class ColumnDrift:
    """One column: the test that decides (smallest adjusted p-value) and all of its tests."""

    type: str
    test: str
    statistic: float
    p_value: float  # adjusted: the value the threshold is applied to
    drift: bool
    tests: list[ColumnTest]
    missing_share: float
    reference_missing_share: float
    shares: dict[str, float] | None = None  # string/boolean: window shares of present values
    reference_shares: dict[str, float] | None = None
    unseen_share: float | None = None  # string: present values outside the categories


def numeric_tests(
    reference: TypedReference, name: str, values: list[float]
) -> list[tuple[str, float, float]]:
    ref = reference.numbers[name]
    if len(values) < 2 or len(ref) < 2:  # nothing to compare: the missing test speaks
        return [("ks", 0.0, 1.0), ("scale", 0.0, 1.0)]
    current = np.asarray(values, dtype=np.float64)
    statistic, ks_p = ks_pvalue(ref, current)
    return [("ks", statistic, ks_p), ("scale", 0.0, scale_pvalue(ref, current))]


def chi_square_test(reference: dict[str, int], window: dict[str, int]) -> tuple[float, float]:
    """Homogeneity of two samples' category counts (categories neither holds are left out)."""
    from scipy.stats import chi2_contingency

    names = sorted(name for name in set(reference) | set(window))
    table = np.array([[reference.get(n, 0) for n in names], [window.get(n, 0) for n in names]])
    table = table[:, table.sum(axis=0) > 0]
    if table.shape[1] < 2 or table[1].sum() == 0 or table[0].sum() == 0:
        return 0.0, 1.0
    result = chi2_contingency(table, correction=False)
    return float(result.statistic), float(result.pvalue)


def class_homogeneity_test(
    n_classes: int,
    class_shares: Mapping[str, NDArray[np.float64]],
    reference_rows: int,
    predictions: NDArray[np.int64],
    versions: Sequence[str],
) -> tuple[float, list[float], list[float]]:
    """(p-value, window shares, expected shares) of the predicted classes.

    The expected shares mix the answering versions' reference shares by how many rows each
    answered (a version without shares predicts like the mean of those with: it was registered
    later and learnt the same data). The reference counts are those shares times the
    ``reference_rows`` they were measured on, and the 2 x k table (reference counts, window
    counts) is tested for homogeneity: both are samples, so the reference's own noise widens
    the test as it should. The versions' shares come from the same training rows, so their mix
    is treated as one sample of ``reference_rows``.
    """
    known = list(class_shares.values())
    fallback = np.mean(known, axis=0) if known else np.full(n_classes, 1 / n_classes)
    expected = np.zeros(n_classes)
    for version in set(versions):
        count = sum(1 for v in versions if v == version)
        expected += count * np.asarray(class_shares.get(version, fallback))[:n_classes]
    observed = np.bincount(predictions, minlength=n_classes)[:n_classes].astype(float)
    size = max(len(predictions), 1)
    reference = expected / size * reference_rows
    pvalue = _homogeneity(reference, observed)
    return pvalue, (observed / size).tolist(), (expected / size).tolist()


def _homogeneity(reference: NDArray[np.float64], window: NDArray[np.float64]) -> float:
    from scipy.stats import chi2_contingency

    table = np.vstack([reference, window])
    table = table[:, table.sum(axis=0) > 0]
    if table.shape[1] < 2 or table[0].sum() == 0 or table[1].sum() == 0:
        return 1.0
    return float(chi2_contingency(table, correction=False).pvalue)


def missing_test(reference: tuple[int, int], missing: int, total: int) -> tuple[float, float]:
    """Fisher's exact test of the missing rate; the statistic is the window's missing share."""
    from scipy.stats import fisher_exact

    ref_missing, ref_total = reference
    if total == 0 or ref_total == 0:
        return 0.0, 1.0
    table = [[ref_missing, ref_total - ref_missing], [missing, total - missing]]
    return missing / total, float(fisher_exact(table).pvalue)


def _column_tests(
    reference: TypedReference, window: TypedWindow
) -> tuple[dict[str, list[tuple[str, float, float]]], dict[str, dict[str, object]]]:
    tests: dict[str, list[tuple[str, float, float]]] = {}
    details: dict[str, dict[str, object]] = {}
    for column in reference.schema.columns:
        values = window.columns[column.name]
        present = [value for value in values if value is not None]
        found: list[tuple[str, float, float]] = []
        n_missing = len(values) - len(present)
        extra: dict[str, object] = {"missing_share": n_missing / max(len(values), 1)}
        if column.type in NUMERIC:
            found += numeric_tests(reference, column.name, present)
        else:
            counts: dict[str, int] = {}
            for value in map(category, present):
                counts[value] = counts.get(value, 0) + 1
            ref_counts = dict(reference.counts[column.name])
            seen = (
                counts
                if column.type == "boolean"
                else {k: v for k, v in counts.items() if k in column.category_set}
            )
            found.append(("chi_square", *chi_square_test(ref_counts, seen)))
            extra["shares"] = _shares(counts)
            extra["reference_shares"] = _shares(ref_counts)
            if column.type == "string":
                unseen = len(present) - sum(seen.values())
                rate = unseen / len(present) if present else 0.0
                found.append(("unseen", rate, bad_value_pvalue(unseen, len(present), UNSEEN_RATE)))
                extra["unseen_share"] = rate
        ref_missing = reference.missing.get(column.name, (0, 1))
        extra["reference_missing_share"] = ref_missing[0] / max(ref_missing[1], 1)
        if column.nullable:
            found.append(
                ("missing", *missing_test(ref_missing, len(values) - len(present), len(values)))
            )
        tests[column.name] = found
        details[column.name] = extra
    return tests, details


def _shares(counts: dict[str, int]) -> dict[str, float]:
    total = sum(counts.values())
    return {name: counts[name] / total for name in sorted(counts)} if total else {}


def _out_of_range_rows(reference: TypedReference, window: TypedWindow) -> int:
    bad = np.zeros(window.size, dtype=bool)
    for name, low in reference.low.items():
        values = np.array([np.nan if v is None else v for v in window.columns[name]], dtype=float)
        with np.errstate(invalid="ignore"):  # NaN (missing) compares False: not bad
            bad |= (values < low) | (values > reference.high[name])
    return int(bad.sum())


def typed_score(adjusted_pvalue: float) -> float:
    """drift.py's score of a Holm-adjusted p-value, at the typed family's level."""
    return score_from_pvalue(min(1.0, adjusted_pvalue * LEVEL_SCALE))


def typed_drift_report(
    reference: TypedReference,
    window: TypedWindow,
    threshold: float,
    min_window: int,
    computed_at: float,
) -> DriftReport:
    """drift.drift_report for a typed schema: ``columns`` replaces ``features``."""
    if window.size < min_window:
        return DriftReport(
            "warming_up", 0.0, False, window.size, min_window, threshold, computed_at
        )
    tests, details = _column_tests(reference, window)
    n_classes = len(reference.class_names)
    class_p, observed, expected = class_homogeneity_test(
        n_classes, reference.class_shares, reference.rows, window.predictions, window.versions
    )
    out_of_range = _out_of_range_rows(reference, window)
    bad_p = bad_value_pvalue(out_of_range + window.rejected, window.size + window.rejected)
    raw = [p for found in tests.values() for _, _, p in found] + [class_p, bad_p]
    adjusted_all = holm(raw)
    adjusted = iter(adjusted_all)
    columns: dict[str, ColumnDrift] = {}
    for column in reference.schema.columns:
        done = [ColumnTest(t, s, p, next(adjusted)) for t, s, p in tests[column.name]]
        decisive = min(done, key=lambda test: test.adjusted_p_value)
        columns[column.name] = ColumnDrift(
            type=column.type,
            test=decisive.test,
            statistic=decisive.statistic,
            p_value=decisive.adjusted_p_value,
            drift=typed_score(decisive.adjusted_p_value) >= threshold,
            tests=done,
            **details[column.name],  # type: ignore[arg-type]
        )
    class_adjusted, bad_adjusted = next(adjusted), next(adjusted)
    score = typed_score(min(adjusted_all))
    return DriftReport(
        status="drift" if score >= threshold else "ok",
        score=score,
        drift=score >= threshold,
        window_size=window.size,
        min_window=min_window,
        threshold=threshold,
        computed_at=computed_at,
        tests=len(raw),
        prediction=PredictionDrift(
            pvalue=class_p,
            adjusted_pvalue=class_adjusted,
            observed_shares=dict(zip(reference.class_names, observed, strict=True)),
            expected_shares=dict(zip(reference.class_names, expected, strict=True)),
        ),
        bad_values=BadValues(window.rejected, out_of_range, bad_p, bad_adjusted),
        columns=columns,
    )
