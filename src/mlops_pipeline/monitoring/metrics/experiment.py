"""Experiment metrics: accuracy from feedback, the sample-ratio check and the shadow version."""

from __future__ import annotations

from prometheus_client import CollectorRegistry, Counter, Gauge


class ExperimentMetrics:
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

    def _initialise_feedback(self, version: str) -> None:
        for correct in ("true", "false"):
            self.feedback.labels(version, correct)

    def count_feedback(self, version: str, correct: bool) -> None:
        self.feedback.labels(version, "true" if correct else "false").inc()

    def set_accuracy(self, version: str, accuracy: float) -> None:
        self.model_accuracy.labels(version).set(accuracy)

    def set_sample_ratio_mismatch(self, mismatch: bool) -> None:
        self.sample_ratio_mismatch.set(1 if mismatch else 0)

    def count_shadow(self, version: str, agreed: int, disagreed: int) -> None:
        if agreed:
            self.shadow_predictions.labels(version, "true").inc(agreed)
        if disagreed:
            self.shadow_predictions.labels(version, "false").inc(disagreed)

    def count_shadow_dropped(self) -> None:
        self.shadow_dropped.inc()
