"""Drift metrics over the newest window of predictions (the monitor's leader sets them)."""

from __future__ import annotations

from collections.abc import Iterable

from prometheus_client import CollectorRegistry, Gauge

from mlops_pipeline.monitoring.drift import DriftReport


class DriftMetrics:
    def _add_drift(self, registry: CollectorRegistry | None) -> None:
        """Drift over the newest window (the monitor's leader sets them)."""
        self.drift_score = Gauge(
            "mlops_drift_score",
            "Drift score in [0, 1] over the newest window of predictions.",
            registry=registry,
            multiprocess_mode="mostrecent",
        )
        self.drift_detected = Gauge(
            "mlops_drift_detected",
            "1 when the drift score is at or above the threshold.",
            registry=registry,
            multiprocess_mode="mostrecent",
        )
        self.feature_drift_pvalue = Gauge(
            "mlops_feature_drift_pvalue",
            "Holm-adjusted drift p-value per feature.",
            ["feature"],
            registry=registry,
            multiprocess_mode="mostrecent",
        )
        self.feature_psi = Gauge(
            "mlops_feature_psi",
            "Population stability index per feature (reported, not alerted).",
            ["feature"],
            registry=registry,
            multiprocess_mode="mostrecent",
        )
        self.prediction_drift_pvalue = Gauge(
            "mlops_prediction_drift_pvalue",
            "Holm-adjusted p-value of the predicted-class test.",
            registry=registry,
            multiprocess_mode="mostrecent",
        )
        self.drift_window_size = Gauge(
            "mlops_drift_window_size",
            "Predicted rows in the drift window.",
            registry=registry,
            multiprocess_mode="mostrecent",
        )

    def initialise_drift(self, feature_names: Iterable[str]) -> None:
        for feature in feature_names:
            self.feature_drift_pvalue.labels(feature).set(1)
            self.feature_psi.labels(feature).set(0)
        self.prediction_drift_pvalue.set(1)

    def set_drift(self, report: DriftReport) -> None:
        self.drift_window_size.set(report.window_size)
        self.drift_score.set(report.score)
        self.drift_detected.set(1 if report.drift else 0)
        if report.columns is not None:  # typed schemas: one p-value per schema column
            for column, drift in report.columns.items():
                self.feature_drift_pvalue.labels(column).set(drift.p_value)
        if report.features is None or report.prediction is None:
            if report.prediction is not None:
                self.prediction_drift_pvalue.set(report.prediction.adjusted_pvalue)
            return  # warming up: no p-values yet, 1 means "no evidence"
        for feature, values in report.features.items():
            self.feature_drift_pvalue.labels(feature).set(values.adjusted_pvalue)
            self.feature_psi.labels(feature).set(values.psi)
        self.prediction_drift_pvalue.set(report.prediction.adjusted_pvalue)
