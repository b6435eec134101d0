"""Wire the serving object graph from settings: artifacts -> predictors -> router -> service.

The composition root: the only module that builds ``Components`` (components.py). The
processes serving with them (an HTTP worker, the gRPC service, the monitor) are built one
floor up, in processes.py, so this module imports no transport (neither Flask nor grpcio).
"""

from __future__ import annotations

import random
from collections.abc import Callable

from mlops_pipeline.artifacts import ArtifactBundle, load_bundle
from mlops_pipeline.components import RETRAIN_POLL_SECONDS, Components
from mlops_pipeline.config import Settings, database_url, worker_threads
from mlops_pipeline.delivery.service import RolloutService
from mlops_pipeline.experiment.service import ExperimentService
from mlops_pipeline.monitoring.drift_monitor import DriftMonitor
from mlops_pipeline.monitoring.metrics import Metrics
from mlops_pipeline.monitoring.reference import ChampionReference
from mlops_pipeline.monitoring.reports import FreshReports
from mlops_pipeline.monitoring.retention import DAY, LogPruner, Policy
from mlops_pipeline.monitoring.typed_reference import reference_from_stats
from mlops_pipeline.protocol.access_log import AccessLog
from mlops_pipeline.retraining.queue import RetrainQueue
from mlops_pipeline.schema.model import FeatureSchema
from mlops_pipeline.serving.inference import OnnxPredictor
from mlops_pipeline.serving.model_sync import ModelSync
from mlops_pipeline.serving.routing import ABRouter
from mlops_pipeline.serving.served_schema import served_schema
from mlops_pipeline.serving.service import PredictionService
from mlops_pipeline.serving.shadow import ShadowScorer, ShadowSwitch
from mlops_pipeline.serving.typed_requests import typed_schema
from mlops_pipeline.storage import Storage, Timeouts, open_storage

# Components moved to components.py; importers of it from here keep working.
__all__ = ["RETRAIN_POLL_SECONDS", "Components", "build_components"]


def serving_weights(settings: Settings, bundle: ArtifactBundle) -> dict[str, float]:
    weights = settings.ab_weights if settings.ab_weights is not None else bundle.default_weights
    unknown = set(weights) - set(bundle.versions)
    if unknown:
        raise ValueError(
            f"MLOPS_AB_WEIGHTS names versions that were not trained: {sorted(unknown)}; "
            f"trained: {sorted(bundle.versions)}"
        )
    return weights


def build_components(
    settings: Settings,
    metrics: Metrics,
    rng: random.Random | None = None,
    publish_gauges: bool = True,
) -> Components:
    """``publish_gauges``: drift and experiment gauges; the monitor's job in a deployment."""
    bundle = load_bundle(settings.artifacts_dir)
    # Decided once here: a typed schema's versions are fed one named input per column; the
    # float-tensor path (Iris, no schema) is built exactly as before.
    schema = served_schema({name: v.metadata.raw for name, v in bundle.versions.items()})
    typed = typed_schema(schema)
    predictors = {
        name: OnnxPredictor(name, version.onnx_bytes, typed)
        for name, version in bundle.versions.items()
    }
    router = ABRouter(
        serving_weights(settings, bundle),
        rng if rng is not None else random.Random(settings.router_seed),
    )
    storage = open_log(settings)
    service = build_service(settings, bundle, predictors, router, storage, metrics, schema)
    if storage is None:
        return Components(service, None, None)
    return build_logged(settings, bundle, router, service, storage, metrics, publish_gauges)


def open_log(settings: Settings) -> Storage | None:
    """The prediction log's storage (connects on first use); None when it is switched off."""
    if not settings.log_predictions:
        return None
    return open_storage(
        database_url(settings),
        log_durable=settings.db_durable_commit,
        timeouts=database_timeouts(settings),
        # Every request thread and the periodic syncs may each hold a connection.
        pool_size=worker_threads(settings) + 3,
    )


def build_service(
    settings: Settings,
    bundle: ArtifactBundle,
    predictors: dict[str, OnnxPredictor],
    router: ABRouter,
    storage: Storage | None,
    metrics: Metrics,
    schema: FeatureSchema | None = None,
) -> PredictionService:
    if schema is not None:
        metrics.initialise_columns(c.name for c in schema.columns if c.type == "string")
    metrics.initialise(
        {
            name: (version.metadata.algorithm or "unknown", version.metadata.onnx_file_hash or "")
            for name, version in bundle.versions.items()
        },
        bundle.class_names,
        router.weights,
    )
    return PredictionService(
        predictors,
        router,
        storage.predictions if storage is not None else None,
        metrics,
        feature_names=bundle.feature_names,
        class_names=bundle.class_names,
        model_metadata={name: version.metadata.raw for name, version in bundle.versions.items()},
        feature_ranges={
            name: {key: stats[key] for key in ("min", "max", "mean")}
            for name, stats in bundle.training_stats["features"].items()
        },
        shadow=build_shadow(settings, predictors, storage, metrics),
        failures=storage.failures if storage is not None else None,
        inference_timeout_ms=settings.inference_timeout_ms,
        schema=schema,
    )


def build_logged(
    settings: Settings,
    bundle: ArtifactBundle,
    router: ABRouter,
    service: PredictionService,
    storage: Storage,
    metrics: Metrics,
    publish_gauges: bool,
) -> Components:
    """Everything that reads or writes the prediction log, around the service."""
    rollouts = RolloutService(
        storage,
        lambda: service.versions,
        stored_weights(storage, router),
        metrics,
        AccessLog(enabled=True).record,
        publish_gauges=publish_gauges,
    )
    experiment = ExperimentService(
        storage,
        router,
        metrics,
        versions=list(bundle.versions),
        class_names=bundle.class_names,
        publish_gauges=publish_gauges,
        abort_rollout=rollout_aborter(rollouts),
    )
    monitor = build_drift_monitor(
        settings, bundle, router, storage, metrics if publish_gauges else None
    )
    pruner = LogPruner(storage, retention(settings), metrics, alert_bytes=settings.log_alert_bytes)
    model_sync = ModelSync(storage.models, service, experiment.set_versions)
    model_sync.sync()  # versions registered before this process started serve from the start
    shadow_switch = build_shadow_switch(service, storage, metrics)
    shadow_switch.sync()
    return Components(
        service,
        monitor,
        experiment,
        storage=storage,
        pruner=pruner,
        model_sync=model_sync,
        rollouts=rollouts,
        shadow_switch=shadow_switch,
        reports=FreshReports(storage.reports, settings.report_max_age_seconds),
        retrains=RetrainQueue(storage.retrains),
    )


def build_drift_monitor(
    settings: Settings,
    bundle: ArtifactBundle,
    router: ABRouter,
    storage: Storage,
    gauges: Metrics | None,
) -> DriftMonitor:
    trained = reference_from_stats(bundle.training_stats)  # typed or all-numeric
    return DriftMonitor(
        trained,
        storage.predictions,
        gauges,
        window=settings.drift_window,
        min_window=settings.drift_min_window,
        threshold=settings.drift_threshold,
        max_client_share=settings.drift_max_client_share,
        references=ChampionReference(
            trained, set(bundle.versions), storage.models, stored_weights(storage, router)
        ),
    )


def retention(settings: Settings) -> Policy:
    return Policy(
        max_age_seconds=settings.log_retention_days * DAY,
        max_rows=settings.log_max_rows,
        protected_newest=settings.drift_window,
        chunk=settings.log_prune_chunk_rows,
    )


def rollout_aborter(rollouts: RolloutService) -> Callable[[str], int | None]:
    """What a manual change of the split calls to take it back from a running rollout."""

    def abort(actor: str) -> int | None:
        aborted = rollouts.abort_if_running(actor)  # one that just ended is no error
        return None if aborted is None else aborted.id

    return abort


def build_shadow_switch(
    service: PredictionService, storage: Storage, metrics: Metrics
) -> ShadowSwitch:
    shadow_store = storage.shadow

    def make_shadow(version: str) -> ShadowScorer | None:
        predictor = service.predictor(version)
        if predictor is None:
            return None
        return ShadowScorer(predictor, shadow_store, metrics).start()

    def install(scorer: ShadowScorer | None) -> None:
        service.shadow = scorer

    return ShadowSwitch(storage.runtime, lambda: service.shadow, install, make_shadow)


def database_timeouts(settings: Settings) -> Timeouts:
    return Timeouts(
        connect_seconds=settings.db_connect_timeout_seconds,
        statement_seconds=settings.db_statement_timeout_seconds,
        lock_seconds=settings.db_lock_timeout_seconds,
        pool_seconds=settings.db_connect_timeout_seconds,
    )


def stored_weights(storage: Storage, router: ABRouter) -> Callable[[], dict[str, float]]:
    """The split as stored (what every replica converges to), else this router's default."""

    def current() -> dict[str, float]:
        stored = storage.weights.current()
        return dict(stored.weights) if stored is not None else router.weights

    return current


def build_shadow(
    settings: Settings,
    predictors: dict[str, OnnxPredictor],
    storage: Storage | None,
    metrics: Metrics,
) -> ShadowScorer | None:
    if settings.shadow_version is None:
        return None
    if settings.shadow_version not in predictors:
        raise ValueError(
            f"MLOPS_SHADOW_VERSION {settings.shadow_version!r} was not trained;"
            f" trained: {sorted(predictors)}"
        )
    if storage is None:
        raise ValueError("shadow mode records agreement in the prediction log: enable it")
    return ShadowScorer(predictors[settings.shadow_version], storage.shadow, metrics).start()
