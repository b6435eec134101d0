"""Wire the serving object graph from settings: artifacts -> predictors -> router -> service."""

from __future__ import annotations

import random
from dataclasses import dataclass

from flask import Flask
from prometheus_client import CollectorRegistry

from mlops_pipeline.api import create_app
from mlops_pipeline.artifacts import ArtifactBundle, load_bundle
from mlops_pipeline.config import Settings
from mlops_pipeline.drift import Reference
from mlops_pipeline.inference import OnnxPredictor
from mlops_pipeline.metrics import Metrics, exposition_registry, multiprocess_enabled
from mlops_pipeline.monitoring import DriftMonitor
from mlops_pipeline.routing import ABRouter
from mlops_pipeline.service import PredictionService
from mlops_pipeline.store import SQLitePredictionStore


def serving_weights(settings: Settings, bundle: ArtifactBundle) -> dict[str, float]:
    weights = settings.ab_weights if settings.ab_weights is not None else bundle.default_weights
    unknown = set(weights) - set(bundle.versions)
    if unknown:
        raise ValueError(
            f"MLOPS_AB_WEIGHTS names versions that were not trained: {sorted(unknown)}; "
            f"trained: {sorted(bundle.versions)}"
        )
    return weights


@dataclass(frozen=True)
class Components:
    service: PredictionService
    monitor: DriftMonitor | None  # None without a prediction log to watch


def build_components(
    settings: Settings, metrics: Metrics, rng: random.Random | None = None
) -> Components:
    bundle = load_bundle(settings.artifacts_dir)
    predictors = {
        name: OnnxPredictor(name, version.onnx_bytes) for name, version in bundle.versions.items()
    }
    router = ABRouter(
        serving_weights(settings, bundle),
        rng if rng is not None else random.Random(settings.router_seed),
    )
    store = SQLitePredictionStore(settings.db_path) if settings.log_predictions else None
    metrics.initialise(
        {
            name: (version.metadata["algorithm"], version.metadata["files"]["model.onnx"])
            for name, version in bundle.versions.items()
        },
        bundle.class_names,
        router.weights,
    )
    service = PredictionService(
        predictors,
        router,
        store,
        metrics,
        feature_names=bundle.feature_names,
        class_names=bundle.class_names,
        model_metadata={name: version.metadata for name, version in bundle.versions.items()},
    )
    monitor = None
    if store is not None:
        monitor = DriftMonitor(
            Reference.from_training_stats(bundle.training_stats),
            store,
            metrics,
            window=settings.drift_window,
            min_window=settings.drift_min_window,
            threshold=settings.drift_threshold,
        )
    return Components(service, monitor)


def build_app(settings: Settings) -> Flask:
    """The production app: multiprocess metrics when gunicorn's start script asked for them."""
    if multiprocess_enabled():
        metrics, registry = Metrics(registry=None), exposition_registry()
    else:
        registry = CollectorRegistry()
        metrics = Metrics(registry)
    components = build_components(settings, metrics)
    if components.monitor is not None and settings.drift_interval_seconds > 0:
        components.monitor.start(settings.drift_interval_seconds)
    return create_app(settings, components.service, registry, components.monitor)
