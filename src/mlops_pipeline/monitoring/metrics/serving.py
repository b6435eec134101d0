"""Serving metrics: requests, predictions, errors and the served versions and split.

The hot path records here (``observe_request``, ``observe_prediction``), so resolved label
children are kept: resolving one costs more than the update itself.
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping
from typing import Any

from prometheus_client import CollectorRegistry, Counter, Gauge, Histogram

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


class ServingMetrics:
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
        # Label values are the served schema's string columns, named by the operator who trained
        # the model, never a client's text: the label set stays closed.
        self.unseen_categories = Counter(
            "mlops_unseen_categories",
            "Values outside a string column's training categories (answered), by column.",
            ["column"],
            registry=registry,
        )
        self._request_children: dict[tuple[str, str, int], tuple[Any, Any]] = {}
        self._inference_cache: dict[str, Any] = {}
        self._prediction_cache: dict[tuple[str, str], Any] = {}

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

    def count_error(self, code: str) -> None:
        self.errors.labels(code).inc()

    def set_weights(self, weights: Mapping[str, float]) -> None:
        for version, weight in weights.items():
            self.ab_weight.labels(version).set(weight)

    def initialise_columns(self, string_columns: Iterable[str]) -> None:
        """The unseen-category series of a typed schema's string columns, at 0 from the start."""
        for column in string_columns:
            self.unseen_categories.labels(column)

    def count_unseen_categories(self, counts: Mapping[str, int]) -> None:
        """``counts``: schema column -> values outside its categories in one request."""
        for column, count in counts.items():
            self.unseen_categories.labels(column).inc(count)
