"""Operations metrics: the prediction log, its retention, the stored split and the monitor lead."""

from __future__ import annotations

from prometheus_client import CollectorRegistry, Counter, Gauge

PRUNE_REASONS = ("by_age", "by_rows", "labels", "rejections", "shadow")


class OperationsMetrics:
    def _add_operations(self, registry: CollectorRegistry | None) -> None:
        """The prediction log, its retention and which monitor leads."""
        self.log_failures = Counter(
            "mlops_prediction_log_failures",
            "Predictions refused because the log could not take the write (the request got a 503).",
            registry=registry,
        )
        self.weights_disagreement = Gauge(
            "mlops_weights_disagreement",
            "1 while this process serves a split other than the stored one (the stored split"
            " gives traffic to a version it does not serve).",
            registry=registry,
            multiprocess_mode="livemax",
        )
        self.monitor_leader = Gauge(
            "mlops_monitor_leader",
            "1 while this mlops monitor holds the leader lock and computes reports.",
            registry=registry,
            multiprocess_mode="max",
        )
        self.log_rows = Gauge(
            "mlops_prediction_log_rows",
            "Answered requests in the prediction log.",
            registry=registry,
            multiprocess_mode="mostrecent",
        )
        self.log_bytes = Gauge(
            "mlops_prediction_log_bytes",
            "Bytes the database's tables occupy.",
            registry=registry,
            multiprocess_mode="mostrecent",
        )
        self.log_alert_bytes = Gauge(
            "mlops_prediction_log_alert_bytes",
            "MLOPS_LOG_ALERT_BYTES: above it PredictionLogNearlyFull fires.",
            registry=registry,
            multiprocess_mode="mostrecent",
        )
        self.log_pruned = Counter(
            "mlops_prediction_log_pruned",
            "Rows retention deleted, by reason.",
            ["reason"],
            registry=registry,
        )

    def count_log_failure(self) -> None:
        self.log_failures.inc()

    def count_pruned(self, reason: str, count: int) -> None:
        if reason not in PRUNE_REASONS:
            raise ValueError(f"unknown prune reason {reason!r}")  # a closed set of label values
        if count:
            self.log_pruned.labels(reason).inc(count)

    def set_log_size(self, rows: int, bytes_in_use: int, alert_bytes: int) -> None:
        """Requests in the log and the database's size, beside the size the alert compares to."""
        self.log_rows.set(rows)
        self.log_bytes.set(bytes_in_use)
        self.log_alert_bytes.set(alert_bytes)

    def set_monitor_leader(self, leader: bool) -> None:
        self.monitor_leader.set(1 if leader else 0)

    def set_weights_disagreement(self, disagrees: bool) -> None:
        self.weights_disagreement.set(1 if disagrees else 0)
