from __future__ import annotations

import random

import numpy as np
import pytest
from prometheus_client import CollectorRegistry

from mlops_pipeline.artifacts import ArtifactBundle
from mlops_pipeline.monitoring.metrics import Metrics
from mlops_pipeline.serving.inference import OnnxPredictor
from mlops_pipeline.serving.routing import ABRouter
from mlops_pipeline.serving.service import PredictionService
from mlops_pipeline.serving.validation import PredictRequest
from mlops_pipeline.storage import open_storage
from mlops_pipeline.storage.schema import upgrade
from tests.support.helpers import SETOSA_ROW, sample


def request(rows: list[list[float]], user: str | None = None) -> PredictRequest:
    return PredictRequest(np.array(rows, dtype=np.float64), user, is_batch=len(rows) > 1)


def test_predict_routes_infers_logs_and_counts(
    service: PredictionService, registry: CollectorRegistry
) -> None:
    result = service.predict(request([SETOSA_ROW]), "req-1")
    assert result.classes.tolist() == [0]
    assert result.probabilities[0, 0] > 0.9
    assert result.model_version in {"v1", "v2"}
    logged = service.recent_predictions(1)[0]
    assert (logged["request_id"], logged["model_version"], logged["prediction"]) == (
        "req-1",
        result.model_version,
        0,
    )
    assert logged["features"] == SETOSA_ROW
    assert (
        sample(
            registry,
            "mlops_predictions_total",
            model_version=result.model_version,
            predicted_class="setosa",
        )
        == 1
    )


def test_batch_counts_every_row_per_class(
    service: PredictionService, registry: CollectorRegistry
) -> None:
    rows = [SETOSA_ROW, SETOSA_ROW, [6.7, 3.0, 5.2, 2.3]]
    result = service.predict(request(rows), "batch")
    assert result.classes.tolist() == [0, 0, 2]
    version = result.model_version
    assert (
        sample(registry, "mlops_predictions_total", model_version=version, predicted_class="setosa")
        == 2
    )
    assert (
        sample(
            registry, "mlops_predictions_total", model_version=version, predicted_class="virginica"
        )
        == 1
    )
    assert sample(registry, "mlops_inference_latency_seconds_count", model_version=version) == 1
    assert len(service.recent_predictions(10)) == 3


def test_sticky_user_always_gets_the_same_version(service: PredictionService) -> None:
    versions = {
        service.predict(request([SETOSA_ROW], "alice"), f"r{n}").model_version for n in range(20)
    }
    assert versions == {"v1"}  # bucket 207 of 10,000 falls in v1's half


def test_injected_clock_and_timer_are_recorded(bundle: ArtifactBundle, tmp_path) -> None:  # type: ignore[no-untyped-def]
    ticks = iter([10.0, 10.004])
    url = f"sqlite:///{tmp_path / 'log.db'}"
    upgrade(url)
    service = PredictionService(
        {"v1": OnnxPredictor("v1", bundle.versions["v1"].onnx_bytes)},
        ABRouter({"v1": 1.0}, random.Random(0)),
        open_storage(url).predictions,
        Metrics(CollectorRegistry()),
        bundle.feature_names,
        bundle.class_names,
        {},
        clock=lambda: 1234.5,
        timer=lambda: next(ticks),
    )
    result = service.predict(request([SETOSA_ROW]), "r")
    assert result.latency_ms == pytest.approx(4.0)
    assert service.recent_predictions(1)[0]["created_at"] == 1234.5


def test_weights_for_unknown_versions_are_refused(bundle: ArtifactBundle) -> None:
    with pytest.raises(ValueError, match=r"versions with no model: \['v9'\]"):
        PredictionService(
            {"v1": OnnxPredictor("v1", bundle.versions["v1"].onnx_bytes)},
            ABRouter({"v1": 1.0, "v9": 1.0}, random.Random(0)),
            None,
            Metrics(CollectorRegistry()),
            bundle.feature_names,
            bundle.class_names,
            {},
        )


def test_without_a_log_nothing_is_stored(bundle: ArtifactBundle) -> None:
    service = PredictionService(
        {"v1": OnnxPredictor("v1", bundle.versions["v1"].onnx_bytes)},
        ABRouter({"v1": 1.0}, random.Random(0)),
        None,
        Metrics(CollectorRegistry()),
        bundle.feature_names,
        bundle.class_names,
        {},
    )
    service.predict(request([SETOSA_ROW]), "r")
    assert service.recent_predictions(5) == []
    assert service.config()["prediction_log"] is False
