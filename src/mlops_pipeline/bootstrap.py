"""Wire the serving object graph from settings: artifacts -> predictors -> router -> service.

The composition root: the only module that builds ``Components`` (components.py) and the
processes serving with them (an HTTP worker, the gRPC service, the monitor).
"""

from __future__ import annotations

import os
import random
from collections.abc import Callable
from dataclasses import dataclass
from typing import TYPE_CHECKING

from prometheus_client import CollectorRegistry

from mlops_pipeline.api import create_app
from mlops_pipeline.api.inference import WSGIApp
from mlops_pipeline.api.openapi import openapi_spec
from mlops_pipeline.artifacts import ArtifactBundle, load_bundle
from mlops_pipeline.components import RETRAIN_POLL_SECONDS, Components
from mlops_pipeline.config import Settings, database_url, worker_threads
from mlops_pipeline.credentials import token_problems
from mlops_pipeline.delivery.service import RolloutService
from mlops_pipeline.experiment.service import ExperimentService
from mlops_pipeline.monitoring.drift import Reference
from mlops_pipeline.monitoring.drift_monitor import DriftMonitor
from mlops_pipeline.monitoring.leader import LeaderElection, Monitor, monitor_identity
from mlops_pipeline.monitoring.metrics import Metrics, exposition_registry, multiprocess_enabled
from mlops_pipeline.monitoring.reference import ChampionReference
from mlops_pipeline.monitoring.reports import FreshReports
from mlops_pipeline.monitoring.retention import DAY, LogPruner, Policy
from mlops_pipeline.protocol.access_log import AccessLog
from mlops_pipeline.protocol.clients import ClientKeys
from mlops_pipeline.retraining.queue import RetrainQueue
from mlops_pipeline.serving.inference import OnnxPredictor
from mlops_pipeline.serving.model_sync import ModelSync
from mlops_pipeline.serving.routing import ABRouter
from mlops_pipeline.serving.service import PredictionService
from mlops_pipeline.serving.shadow import ShadowScorer, ShadowSwitch
from mlops_pipeline.storage import Storage, Timeouts, open_storage
from mlops_pipeline.telemetry.tracing import start_tracing, stop_tracing
from mlops_pipeline.telemetry.wsgi import traced

if TYPE_CHECKING:
    import grpc

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
    predictors = {
        name: OnnxPredictor(name, version.onnx_bytes) for name, version in bundle.versions.items()
    }
    router = ABRouter(
        serving_weights(settings, bundle),
        rng if rng is not None else random.Random(settings.router_seed),
    )
    storage = open_log(settings)
    service = build_service(settings, bundle, predictors, router, storage, metrics)
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
) -> PredictionService:
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
    trained = Reference.from_training_stats(bundle.training_stats)
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


def serving_metrics() -> tuple[Metrics, CollectorRegistry]:
    """Multiprocess metrics when the start script asked for them (workers share their files)."""
    if multiprocess_enabled():
        return Metrics(registry=None), exposition_registry()
    registry = CollectorRegistry()
    return Metrics(registry), registry


@dataclass(frozen=True)
class HttpWorker:
    """One HTTP worker's app and what it runs on; ``close`` at the worker's exit (wsgi.py)."""

    app: WSGIApp
    components: Components

    def close(self) -> None:
        self.components.close()
        stop_tracing()  # exports the spans still buffered


def build_worker(settings: Settings) -> HttpWorker:
    """The production app, its periodic syncs started."""
    problems = token_problems(settings)
    if problems:  # `mlops serve` says so first; this guards a server started some other way
        raise ValueError("; ".join(problems))
    metrics, registry = serving_metrics()
    components = build_components(settings, metrics, publish_gauges=False)
    components.start(settings)
    app: WSGIApp = create_app(settings, components, registry)
    if start_tracing("mlops-api", os.environ):  # off: the app is served unwrapped
        service = components.service
        spec = openapi_spec(
            settings.model_name, list(service.feature_names), len(service.class_names)
        )
        app = traced(app, spec["paths"])
    return HttpWorker(app, components)


def build_app(settings: Settings) -> WSGIApp:
    """The production app alone (benchmarks); a server uses ``build_worker`` to close it."""
    return build_worker(settings).app


def build_grpc(settings: Settings) -> GrpcProcess:
    """The V2 gRPC service: its own process beside the HTTP workers, sharing their metric files."""
    from mlops_pipeline.rpc.server import grpc_server
    from mlops_pipeline.rpc.service import InferenceServicer

    metrics = Metrics(registry=None) if multiprocess_enabled() else Metrics(CollectorRegistry())
    components = build_components(settings, metrics, publish_gauges=False)
    components.start(settings)
    start_tracing("mlops-api", os.environ)  # before the handlers: they are wrapped only if on
    servicer = InferenceServicer(
        components.service,
        metrics,
        settings.model_name,
        settings.max_batch_rows,
        AccessLog(enabled=settings.access_log),
        clients=ClientKeys.from_settings(settings),
    )
    server, _port = grpc_server(
        servicer, settings.host, settings.grpc_port, settings.max_body_bytes
    )
    return GrpcProcess(server, components)


@dataclass(frozen=True)
class GrpcProcess:
    server: grpc.Server
    components: Components

    def close(self) -> None:
        self.components.close()
        stop_tracing()


@dataclass(frozen=True)
class MonitorProcess:
    monitor: Monitor
    registry: CollectorRegistry
    components: Components


def build_monitor(settings: Settings, identity: str | None = None) -> MonitorProcess:
    """`mlops monitor`: the drift, experiment and retention role, leader-elected."""
    registry = CollectorRegistry()
    metrics = Metrics(registry)
    # The monitor answers no request, so it needs no shadow scorer.
    components = build_components(settings.model_copy(update={"shadow_version": None}), metrics)
    if components.storage is None:
        raise ValueError("the monitor reads the prediction log: enable MLOPS_LOG_PREDICTIONS")

    def leadership(leader: bool) -> None:
        metrics.set_monitor_leader(leader)
        if not leader:  # a standby must not keep exporting what it computed as leader
            metrics.clear_monitor_gauges()

    identity = identity or monitor_identity()
    monitor = Monitor(
        LeaderElection(components.storage.database.lock("monitor")),
        components.storage.reports,
        components.monitor_tasks(settings, identity),
        on_leadership=leadership,
        identity=identity,
    )
    metrics.set_monitor_leader(False)
    return MonitorProcess(monitor, registry, components)
