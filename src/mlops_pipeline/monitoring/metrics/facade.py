"""Every Prometheus metric the system exports, in one place.

Nothing registers at import: ``Metrics(registry)`` builds them, so each test gets a fresh
registry. Under gunicorn, metrics are built with ``registry=None`` and values go to the
multiprocess folder; ``/metrics`` then collects all workers' files (see ``exposition_registry``).
"""

from __future__ import annotations

import os
from collections.abc import Iterable, Mapping
from typing import Any

from prometheus_client import CollectorRegistry, Counter, Gauge, Histogram
from prometheus_client.multiprocess import MultiProcessCollector

from mlops_pipeline.errors import all_error_codes
from mlops_pipeline.monitoring.drift import DriftReport
from mlops_pipeline.serving.inference import FAILURE_REASONS

# 100 µs to 1 s, roughly three buckets per decade.
LATENCY_BUCKETS = (
    0.0001,
    0.00025,
    0.0005,
    0.001,
    0.0025,
    0.005,
    0.01,
    0.025,
    0.05,
    0.1,
    0.25,
    0.5,
    1.0,
)

# The only methods that become a label value as sent; any other is "other". A client picks the
# method, so without this one client could create a series per made-up verb.
KNOWN_METHODS = frozenset({"GET", "HEAD", "POST", "PUT", "PATCH", "DELETE", "OPTIONS"})


def bounded_method(method: str) -> str:
    return method if method in KNOWN_METHODS else "other"


ROLLOUT_STATES = ("running", "promoted", "rolled_back", "aborted")
ROLLOUT_EVENTS = ("started", "advance", "weights", "promote", "rolled_back", "aborted")
RETRAIN_TRIGGERS = ("cli", "api", "drift-alert")
RETRAIN_OUTCOMES = ("registered", "refused", "failed")
PRUNE_REASONS = ("by_age", "by_rows", "labels", "rejections", "shadow")


def multiprocess_enabled() -> bool:
    return bool(os.environ.get("PROMETHEUS_MULTIPROC_DIR"))


def exposition_registry() -> CollectorRegistry:
    """The registry ``/metrics`` renders when several worker processes share metric files."""
    registry = CollectorRegistry()
    MultiProcessCollector(registry)  # type: ignore[no-untyped-call]
    return registry


class Metrics:
    def __init__(self, registry: CollectorRegistry | None) -> None:
        # Registered in this order, which is the order /metrics lists them in.
        self._add_serving(registry)
        self._add_drift(registry)
        self._add_experiment(registry)
        self._add_operations(registry)
        self._add_delivery(registry)
        self._request_children: dict[tuple[str, str, int], tuple[Any, Any]] = {}
        self._inference_cache: dict[str, Any] = {}
        self._prediction_cache: dict[tuple[str, str], Any] = {}

    def _add_serving(self, registry: CollectorRegistry | None) -> None:
        """Requests, predictions and the served versions."""
        self.requests = Counter(
            "mlops_requests",
            "HTTP requests answered.",
            ["endpoint", "method", "status"],
            registry=registry,
        )
        self.request_latency = Histogram(
            "mlops_request_latency_seconds",
            "Time from request arrival to response, by endpoint.",
            ["endpoint"],
            buckets=LATENCY_BUCKETS,
            registry=registry,
        )
        self.predictions = Counter(
            "mlops_predictions",
            "Rows predicted, by model version and predicted class.",
            ["model_version", "predicted_class"],
            registry=registry,
        )
        self.inference_latency = Histogram(
            "mlops_inference_latency_seconds",
            "Model time per prediction call, by version.",
            ["model_version"],
            buckets=LATENCY_BUCKETS,
            registry=registry,
        )
        self.errors = Counter(
            "mlops_errors",
            "Requests answered with an error, by error code.",
            ["code"],
            registry=registry,
        )
        self.ab_weight = Gauge(
            "mlops_ab_weight",
            "Configured share of traffic per model version.",
            ["model_version"],
            registry=registry,
            multiprocess_mode="mostrecent",
        )
        self.model_info = Gauge(
            "mlops_model_info",
            "Served model versions (value 1), with their algorithm and hash.",
            ["model_version", "algorithm", "onnx_sha256"],
            registry=registry,
            multiprocess_mode="max",
        )

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

    def _add_experiment(self, registry: CollectorRegistry | None) -> None:
        """The A/B experiment and the shadow version."""
        self.model_accuracy = Gauge(
            "mlops_model_accuracy",
            "Accuracy on labelled predictions, per version.",
            ["model_version"],
            registry=registry,
            multiprocess_mode="mostrecent",
        )
        self.feedback = Counter(
            "mlops_feedback",
            "Predictions labelled with ground truth (each counted once).",
            ["model_version", "correct"],
            registry=registry,
        )
        self.sample_ratio_mismatch = Gauge(
            "mlops_sample_ratio_mismatch",
            "1 when traffic per version departs from the weights.",
            registry=registry,
            multiprocess_mode="mostrecent",
        )
        self.shadow_predictions = Counter(
            "mlops_shadow_predictions",
            "Rows scored by the shadow version, by agreement.",
            ["model_version", "agree"],
            registry=registry,
        )
        self.shadow_dropped = Counter(
            "mlops_shadow_dropped",
            "Requests the shadow skipped because its queue was full.",
            registry=registry,
        )

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

    def _add_delivery(self, registry: CollectorRegistry | None) -> None:
        """Rollouts, retraining and failing model versions."""
        self.rollout_step = Gauge(
            "mlops_rollout_step",
            "Step index of the newest rollout (-1: none yet).",
            registry=registry,
            multiprocess_mode="mostrecent",
        )
        self.rollout_state = Gauge(
            "mlops_rollout_state",
            "1 for the newest rollout's state (running, promoted, rolled_back, aborted).",
            ["state"],
            registry=registry,
            multiprocess_mode="mostrecent",
        )
        self.rollout_transitions = Counter(
            "mlops_rollout_transitions",
            "Rollout transitions, by event (started, advance, weights, promote, rolled_back,"
            " aborted).",
            ["event"],
            registry=registry,
        )
        self.retrain_runs = Counter(
            "mlops_retrain_runs",
            "Retraining runs the monitor finished, by trigger (api, drift-alert) and outcome"
            " (registered, refused, failed).",
            ["trigger", "outcome"],
            registry=registry,
        )
        self.model_failures = Counter(
            "mlops_model_failures",
            "Requests a model version failed to answer, by reason: an answer refused by the"
            " checks (outputs, shape, label, probabilities), the time budget (timeout) or an"
            " ONNX Runtime error (error).",
            ["model_version", "reason"],
            registry=registry,
        )

    def initialise(
        self,
        versions: Mapping[str, tuple[str, str]],
        class_names: Iterable[str],
        weights: Mapping[str, float],
    ) -> None:
        """Create every known series at 0 so rates and alerts work before the first event.

        ``versions`` maps a version to (algorithm, ONNX SHA-256).
        """
        classes = list(class_names)
        for version, (algorithm, onnx_sha256) in versions.items():
            self.model_info.labels(version, algorithm, onnx_sha256[:12]).set(1)
            self.inference_latency.labels(version)
            for class_name in classes:
                self.predictions.labels(version, class_name)
            self._initialise_failures(version)
        for code in all_error_codes():
            self.errors.labels(code)
        for version in versions:
            for correct in ("true", "false"):
                self.feedback.labels(version, correct)
        self.sample_ratio_mismatch.set(0)
        self.set_weights(weights)

    def add_version(
        self, version: str, algorithm: str, onnx_sha256: str, class_names: Iterable[str]
    ) -> None:
        """A version registered at run time: its series exist at 0 from the start."""
        self.model_info.labels(version, algorithm, onnx_sha256[:12]).set(1)
        self.inference_latency.labels(version)
        for class_name in class_names:
            self.predictions.labels(version, class_name)
        for correct in ("true", "false"):
            self.feedback.labels(version, correct)
        self._initialise_failures(version)

    def _initialise_failures(self, version: str) -> None:
        for reason in FAILURE_REASONS:
            self.model_failures.labels(version, reason)

    def count_model_failure(self, version: str, reason: str) -> None:
        self.model_failures.labels(version, reason).inc()

    def initialise_drift(self, feature_names: Iterable[str]) -> None:
        for feature in feature_names:
            self.feature_drift_pvalue.labels(feature).set(1)
            self.feature_psi.labels(feature).set(0)
        self.prediction_drift_pvalue.set(1)

    def observe_request(self, endpoint: str, method: str, status: int, seconds: float) -> None:
        # Resolving label children costs more than the update itself; the label sets are
        # bounded (routes x known methods x statuses), so the resolved children are kept.
        method = bounded_method(method)
        key = (endpoint, method, status)
        children = self._request_children.get(key)
        if children is None:
            children = (
                self.requests.labels(endpoint, method, str(status)),
                self.request_latency.labels(endpoint),
            )
            self._request_children[key] = children
        children[0].inc()
        children[1].observe(seconds)

    def observe_prediction(
        self, version: str, class_counts: Mapping[str, int], seconds: float
    ) -> None:
        self._inference_children(version).observe(seconds)
        for class_name, count in class_counts.items():
            self._prediction_children(version, class_name).inc(count)

    def _inference_children(self, version: str) -> Any:
        child = self._inference_cache.get(version)
        if child is None:
            child = self._inference_cache[version] = self.inference_latency.labels(version)
        return child

    def _prediction_children(self, version: str, class_name: str) -> Any:
        key = (version, class_name)
        child = self._prediction_cache.get(key)
        if child is None:
            child = self._prediction_cache[key] = self.predictions.labels(version, class_name)
        return child

    def set_drift(self, report: DriftReport) -> None:
        self.drift_window_size.set(report.window_size)
        self.drift_score.set(report.score)
        self.drift_detected.set(1 if report.drift else 0)
        if report.features is None or report.prediction is None:
            return  # warming up: no p-values yet, 1 means "no evidence"
        for feature, values in report.features.items():
            self.feature_drift_pvalue.labels(feature).set(values.adjusted_pvalue)
            self.feature_psi.labels(feature).set(values.psi)
        self.prediction_drift_pvalue.set(report.prediction.adjusted_pvalue)

    def count_shadow(self, version: str, agreed: int, disagreed: int) -> None:
        if agreed:
            self.shadow_predictions.labels(version, "true").inc(agreed)
        if disagreed:
            self.shadow_predictions.labels(version, "false").inc(disagreed)

    def count_shadow_dropped(self) -> None:
        self.shadow_dropped.inc()

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

    def set_rollout(self, state: str | None, step: int) -> None:
        self.rollout_step.set(step)
        for known in ROLLOUT_STATES:
            self.rollout_state.labels(known).set(1 if known == state else 0)

    def count_rollout_transition(self, event: str) -> None:
        self.rollout_transitions.labels(event if event in ROLLOUT_EVENTS else "other").inc()

    def count_retrain(self, trigger: str, outcome: str) -> None:
        self.retrain_runs.labels(
            trigger if trigger in RETRAIN_TRIGGERS else "other",
            outcome if outcome in RETRAIN_OUTCOMES else "other",
        ).inc()

    def clear_monitor_gauges(self) -> None:
        """Back to "no evidence": what a standby exports instead of a stale leader's values."""
        self.drift_detected.set(0)
        self.sample_ratio_mismatch.set(0)
        # A size measured while leading would go stale: the alert takes the max over monitors.
        self.log_rows.set(0)
        self.log_bytes.set(0)

    def count_error(self, code: str) -> None:
        self.errors.labels(code).inc()

    def count_log_failure(self) -> None:
        self.log_failures.inc()

    def count_feedback(self, version: str, correct: bool) -> None:
        self.feedback.labels(version, "true" if correct else "false").inc()

    def set_accuracy(self, version: str, accuracy: float) -> None:
        self.model_accuracy.labels(version).set(accuracy)

    def set_sample_ratio_mismatch(self, mismatch: bool) -> None:
        self.sample_ratio_mismatch.set(1 if mismatch else 0)

    def set_weights_disagreement(self, disagrees: bool) -> None:
        self.weights_disagreement.set(1 if disagrees else 0)

    def set_weights(self, weights: Mapping[str, float]) -> None:
        for version, weight in weights.items():
            self.ab_weight.labels(version).set(weight)
