from __future__ import annotations

import os
import shutil
import subprocess

import pytest
from prometheus_client import CollectorRegistry, generate_latest

from mlops_pipeline.errors import all_error_codes
from mlops_pipeline.monitoring.metrics import Metrics, bounded_method
from tests.support.helpers import sample


@pytest.fixture
def initialised(metrics: Metrics) -> Metrics:
    metrics.initialise(
        {"v1": ("random_forest", "ab" * 32), "v2": ("random_forest", "cd" * 32)},
        ["setosa", "versicolor"],
        {"v1": 0.25, "v2": 0.75},
    )
    return metrics


def test_known_series_exist_at_zero_from_start(
    initialised: Metrics, registry: CollectorRegistry
) -> None:
    assert (
        registry.get_sample_value(
            "mlops_predictions_total", {"model_version": "v2", "predicted_class": "versicolor"}
        )
        == 0
    )
    for code in all_error_codes():
        assert registry.get_sample_value("mlops_errors_total", {"code": code}) == 0
    assert (
        registry.get_sample_value("mlops_inference_latency_seconds_count", {"model_version": "v1"})
        == 0
    )
    assert sample(registry, "mlops_ab_weight", model_version="v2") == 0.75
    assert (
        registry.get_sample_value(
            "mlops_model_info",
            {"model_version": "v1", "algorithm": "random_forest", "onnx_sha256": "abababababab"},
        )
        == 1
    )


def test_observe_request_counts_and_times(
    initialised: Metrics, registry: CollectorRegistry
) -> None:
    initialised.observe_request("/predict", "POST", 200, 0.0003)
    initialised.observe_request("/predict", "POST", 200, 0.002)
    initialised.observe_request("/predict", "POST", 400, 0.0001)
    assert (
        sample(registry, "mlops_requests_total", endpoint="/predict", method="POST", status="200")
        == 2
    )
    assert (
        sample(registry, "mlops_requests_total", endpoint="/predict", method="POST", status="400")
        == 1
    )
    assert (
        sample(registry, "mlops_request_latency_seconds_bucket", endpoint="/predict", le="0.0005")
        == 2
    )
    assert (
        sample(registry, "mlops_request_latency_seconds_bucket", endpoint="/predict", le="0.0001")
        == 1
    )
    assert sample(registry, "mlops_request_latency_seconds_count", endpoint="/predict") == 3


def test_observe_prediction_counts_rows_per_class(
    initialised: Metrics, registry: CollectorRegistry
) -> None:
    initialised.observe_prediction("v1", {"setosa": 3, "versicolor": 1}, 0.00002)
    assert (
        sample(registry, "mlops_predictions_total", model_version="v1", predicted_class="setosa")
        == 3
    )
    assert sample(registry, "mlops_inference_latency_seconds_count", model_version="v1") == 1


def test_latency_buckets_resolve_100_microseconds_to_1_second(metrics: Metrics) -> None:
    bounds = metrics.request_latency._upper_bounds
    assert bounds[0] == 0.0001
    assert bounds[-2] == 1.0


def test_two_instances_on_separate_registries_do_not_collide() -> None:
    first, second = CollectorRegistry(), CollectorRegistry()
    Metrics(first).observe_request("/x", "GET", 200, 0.1)
    Metrics(second)
    assert (
        first.get_sample_value(
            "mlops_requests_total", {"endpoint": "/x", "method": "GET", "status": "200"}
        )
        == 1
    )
    assert (
        second.get_sample_value(
            "mlops_requests_total", {"endpoint": "/x", "method": "GET", "status": "200"}
        )
        is None
    )


def test_promtool_check_metrics_finds_nothing(
    initialised: Metrics, registry: CollectorRegistry
) -> None:
    promtool = shutil.which("promtool")
    if promtool is None:
        if os.environ.get("CI"):
            pytest.fail("promtool missing in CI: .ci/run installs the prometheus package")
        pytest.skip("promtool not installed (apt-get install prometheus)")
    initialised.observe_request("/predict", "POST", 200, 0.001)
    result = subprocess.run(
        [promtool, "check", "metrics"],
        input=generate_latest(registry),
        capture_output=True,
        check=False,
    )
    assert result.returncode == 0, result.stdout + result.stderr
    assert result.stdout.strip() == b""
    assert result.stderr.strip() == b""


def test_every_error_class_code_is_a_preinitialised_label() -> None:
    codes = all_error_codes()
    for expected in (
        "unsupported_media_type",
        "feedback_disabled",
        "invalid_actor",
        "model_not_found",
        "invalid_inference_request",
        "payload_too_large",
        "internal_error",
    ):
        assert expected in codes


def test_method_label_takes_only_known_methods(
    initialised: Metrics, registry: CollectorRegistry
) -> None:
    for index in range(50):
        initialised.observe_request("/predict", f"MADEUP{index}", 405, 0.001)
    initialised.observe_request("/predict", "POST", 200, 0.001)
    methods = {
        s.labels["method"]
        for metric in registry.collect()
        if metric.name == "mlops_requests"
        for s in metric.samples
    }
    assert methods == {"other", "POST"}
    assert bounded_method("get") == "other"  # as sent: lower case is not GET
