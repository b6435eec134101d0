"""`mlops drift` without --json: the drift report as a table for a terminal."""

from __future__ import annotations

from mlops_pipeline.monitoring.drift import DriftReport


def _number(value: float | None, spec: str) -> str:
    # A statistic that overflowed is None in the report; show it without failing.
    return (
        format(value, spec)
        if value is not None
        else format("n/a", spec.rstrip("ef.0123456789") + "s")
    )


def drift_table(report: DriftReport) -> str:
    lines = [
        f"status {report.status}   score {report.score:.3f}"
        f" (threshold {report.threshold})   rows {report.window_size}"
    ]
    if report.features is None or report.prediction is None or report.bad_values is None:
        lines.append(f"fewer than {report.min_window} rows: no test run")
        return "\n".join(lines)
    header = (
        f"{'feature':<16}{'ref mean':>9}{'mean':>9}{'ref sd':>8}{'sd':>8}"
        f"{'KS D':>7}{'KS p':>10}{'scale p':>10}{'adj p':>10}{'PSI':>7}{'out':>5}"
    )
    lines += ["", header, "-" * len(header)]
    for name, f in report.features.items():
        lines.append(
            f"{name:<16}{f.reference_mean:>9.3f}{_number(f.mean, '>9.3f')}"
            f"{f.reference_std:>8.3f}{_number(f.std, '>8.3f')}{f.ks_statistic:>7.3f}"
            f"{f.ks_pvalue:>10.2e}{f.scale_pvalue:>10.2e}{f.adjusted_pvalue:>10.2e}"
            f"{f.psi:>7.3f}{f.out_of_range:>5}"
        )
    prediction, bad = report.prediction, report.bad_values
    shares = ", ".join(
        f"{name} {prediction.observed_shares[name]:.2f} (expected {expected:.2f})"
        for name, expected in prediction.expected_shares.items()
    )
    lines += [
        "",
        f"predicted classes: {shares}; adj p {prediction.adjusted_pvalue:.2e}",
        f"bad values: {bad.rejected} rejected rows, {bad.out_of_range_rows} out of range;"
        f" adj p {bad.adjusted_pvalue:.2e}",
    ]
    return "\n".join(lines)
