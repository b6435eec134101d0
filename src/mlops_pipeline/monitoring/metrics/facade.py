"""The ``Metrics`` object every component records through: one per process.

Nothing registers at import: ``Metrics(registry)`` builds them, so each test gets a fresh
registry. Under gunicorn, metrics are built with ``registry=None`` and values go to the
multiprocess folder; ``/metrics`` then collects all workers' files (see ``exposition.py``).
Each area's families and recorders live in their own module; this class registers them in one
order and holds what spans areas (a version's series created at 0, a standby's reset).
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping

from prometheus_client import CollectorRegistry

from mlops_pipeline.errors import all_error_codes
from mlops_pipeline.monitoring.metrics.delivery import DeliveryMetrics
from mlops_pipeline.monitoring.metrics.drift import DriftMetrics
from mlops_pipeline.monitoring.metrics.experiment import ExperimentMetrics
from mlops_pipeline.monitoring.metrics.operations import OperationsMetrics
from mlops_pipeline.monitoring.metrics.serving import ServingMetrics


class Metrics(ServingMetrics, DriftMetrics, ExperimentMetrics, OperationsMetrics, DeliveryMetrics):
    def __init__(self, registry: CollectorRegistry | None) -> None:
        # Registered in this order, which is the order /metrics lists them in.
        self._add_serving(registry)
        self._add_drift(registry)
        self._add_experiment(registry)
        self._add_operations(registry)
        self._add_delivery(registry)

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
            self._initialise_feedback(version)
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
        self._initialise_feedback(version)
        self._initialise_failures(version)

    def clear_monitor_gauges(self) -> None:
        """Back to "no evidence": what a standby exports instead of a stale leader's values."""
        self.drift_detected.set(0)
        self.sample_ratio_mismatch.set(0)
        # A size measured while leading would go stale: the alert takes the max over monitors.
        self.log_rows.set(0)
        self.log_bytes.set(0)
