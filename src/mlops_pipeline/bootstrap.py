"""Wire the serving object graph from settings: artifacts -> predictors -> router -> service."""

from __future__ import annotations

import random
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import TYPE_CHECKING

from prometheus_client import CollectorRegistry

from mlops_pipeline.api import create_app
from mlops_pipeline.api.inference import WSGIApp
from mlops_pipeline.artifacts import ArtifactBundle, load_bundle
from mlops_pipeline.config import Settings, database_url, worker_threads
from mlops_pipeline.credentials import token_problems
from mlops_pipeline.delivery.service import RolloutService
from mlops_pipeline.experiment.service import ExperimentService
from mlops_pipeline.monitoring.drift import Reference
from mlops_pipeline.monitoring.drift_monitor import DriftMonitor, Refresher
from mlops_pipeline.monitoring.leader import LeaderElection, Monitor, Task, monitor_identity
from mlops_pipeline.monitoring.metrics import Metrics, exposition_registry, multiprocess_enabled
from mlops_pipeline.monitoring.reference import ChampionReference
from mlops_pipeline.monitoring.retention import DAY, LogPruner, Policy
from mlops_pipeline.protocol.access_log import AccessLog
from mlops_pipeline.protocol.clients import ClientKeys
from mlops_pipeline.retraining.service import Retrainer, retrain_plan
from mlops_pipeline.retraining.worker import RetrainWorker
from mlops_pipeline.serving.inference import OnnxPredictor
from mlops_pipeline.serving.model_sync import ModelSync
from mlops_pipeline.serving.routing import ABRouter
from mlops_pipeline.serving.service import PredictionService
from mlops_pipeline.serving.shadow import ShadowScorer, ShadowSwitch
from mlops_pipeline.storage import Storage, Timeouts, open_storage

if TYPE_CHECKING:
    import grpc


def serving_weights(settings: Settings, bundle: ArtifactBundle) -> dict[str, float]:
    weights = settings.ab_weights if settings.ab_weights is not None else bundle.default_weights
    unknown = set(weights) - set(bundle.versions)
    if unknown:
        raise ValueError(
            f"MLOPS_AB_WEIGHTS names versions that were not trained: {sorted(unknown)}; "
            f"trained: {sorted(bundle.versions)}"
        )
    return weights


RETRAIN_POLL_SECONDS = 2.0  # queued retrains (API, drift alert) start within this


@dataclass(frozen=True)
class Components:
    service: PredictionService
    # Both need the prediction log; None when it is switched off.
    monitor: DriftMonitor | None
    experiment: ExperimentService | None
    storage: Storage | None = None
    pruner: LogPruner | None = None
    model_sync: ModelSync | None = None
    rollouts: RolloutService | None = None
    shadow_switch: ShadowSwitch | None = None

    def retrainer(self, settings: Settings) -> Retrainer:
        """Retrains into this process's storage; with a rollout, the candidate is loaded here
        first (the rollout service checks the versions it compares are served)."""
        storage, sync, rollouts = self.storage, self.model_sync, self.rollouts
        if storage is None or sync is None or rollouts is None:
            raise ValueError("retraining reads the prediction log: enable MLOPS_LOG_PREDICTIONS")

        def start_rollout(candidate: str, baseline: str, actor: str) -> int:
            sync.sync()
            return rollouts.start(retrain_plan(candidate, baseline), actor).id

        return Retrainer(storage, settings, start_rollout)

    def close(self) -> None:
        if self.service.shadow is not None:
            self.service.shadow.stop()
        if self.storage is not None:
            self.storage.close()

    def background_tasks(self, settings: Settings) -> list[tuple[float, Callable[[], object]]]:
        """What a serving worker does periodically: only adopt the stored split (one indexed
        single-row read). Drift, the experiment report and retention run in `mlops monitor`."""
        tasks: list[tuple[float, Callable[[], object]]] = []
        if self.model_sync is not None:  # before the split: a split may name a new version
            tasks.append((settings.model_sync_seconds, self.model_sync.sync))
        if self.shadow_switch is not None:
            tasks.append((settings.model_sync_seconds, self.shadow_switch.sync))
        if self.experiment is not None:
            tasks.append((settings.weights_sync_seconds, self.experiment.sync_weights))
        return tasks

    def monitor_tasks(self, settings: Settings, identity: str | None = None) -> list[Task]:
        """The leader monitor's work: reports every replica serves, and the gauges.

        ``identity``: the monitor's, recorded on the retrains it runs (a new leader reclaims
        another's)."""
        tasks: list[Task] = []
        drift, experiment = self.monitor, self.experiment
        if self.model_sync is not None:
            tasks.append(Task("models", settings.model_sync_seconds, self.model_sync.sync))
        drift_interval = max(settings.drift_interval_seconds, 1.0)
        if drift is not None:
            tasks.append(
                Task(
                    "drift",
                    drift_interval,
                    lambda: {**drift.refresh().to_json(), "source": "monitor"},
                    "drift",
                )
            )
        if experiment is not None:

            def experiment_report() -> dict[str, object]:
                experiment.sync_weights()  # the report compares traffic with the current split
                return {**experiment.report().to_json(), "source": "monitor"}

            tasks.append(
                Task(
                    "experiment",
                    settings.experiment_interval_seconds,
                    experiment_report,
                    report="experiment",
                )
            )
        if self.pruner is not None:
            tasks.append(Task("retention", settings.log_prune_interval_seconds, self.pruner.prune))
        if self.rollouts is not None:
            tasks.append(Task("rollout", settings.rollout_interval_seconds, self.rollouts.tick))
        if self.storage is not None:
            worker = RetrainWorker(
                self.storage.retrains,
                self.retrainer(settings),
                finished=self.service.metrics.count_retrain,
                holder=identity,
            )
            tasks.append(Task("retrain", RETRAIN_POLL_SECONDS, worker.tick, close=worker.close))
        return tasks


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
    storage = (
        open_storage(
            database_url(settings),
            log_durable=settings.db_durable_commit,
            timeouts=database_timeouts(settings),
            # Every request thread and the periodic syncs may each hold a connection.
            pool_size=worker_threads(settings) + 3,
        )
        if settings.log_predictions
        else None
    )
    store = storage.predictions if storage is not None else None
    metrics.initialise(
        {
            name: (version.metadata.algorithm or "unknown", version.metadata.onnx_file_hash or "")
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
        model_metadata={name: version.metadata.raw for name, version in bundle.versions.items()},
        feature_ranges={
            name: {key: stats[key] for key in ("min", "max", "mean")}
            for name, stats in bundle.training_stats["features"].items()
        },
        shadow=build_shadow(settings, predictors, storage, metrics),
        failures=storage.failures if storage is not None else None,
        inference_timeout_ms=settings.inference_timeout_ms,
    )
    monitor = experiment = None
    if storage is not None and store is not None:
        experiment = ExperimentService(
            storage,
            router,
            metrics,
            versions=list(bundle.versions),
            class_names=bundle.class_names,
            publish_gauges=publish_gauges,
        )
        trained = Reference.from_training_stats(bundle.training_stats)
        monitor = DriftMonitor(
            trained,
            store,
            metrics if publish_gauges else None,
            window=settings.drift_window,
            min_window=settings.drift_min_window,
            threshold=settings.drift_threshold,
            max_client_share=settings.drift_max_client_share,
            references=ChampionReference(
                trained, set(bundle.versions), storage.models, stored_weights(storage, router)
            ),
        )
    pruner = None
    if storage is not None:
        policy = Policy(
            max_age_seconds=settings.log_retention_days * DAY,
            max_rows=settings.log_max_rows,
            protected_newest=settings.drift_window,
            chunk=settings.log_prune_chunk_rows,
        )
        pruner = LogPruner(storage, policy, metrics, alert_bytes=settings.log_alert_bytes)
    model_sync = rollouts = None
    if storage is not None:
        on_change = experiment.set_versions if experiment is not None else None
        model_sync = ModelSync(storage.models, service, on_change)
        model_sync.sync()  # versions registered before this process started serve from the start
        rollouts = RolloutService(
            storage,
            lambda: service.versions,
            stored_weights(storage, router),
            metrics,
            AccessLog(enabled=True).record,
            publish_gauges=publish_gauges,
        )
    shadow_switch = None
    if storage is not None:
        shadow_store = storage.shadow

        def make_shadow(version: str) -> ShadowScorer | None:
            predictor = service.predictor(version)
            return None if predictor is None else ShadowScorer(predictor, shadow_store, metrics)

        def install(scorer: ShadowScorer | None) -> None:
            service.shadow = scorer

        shadow_switch = ShadowSwitch(storage.runtime, lambda: service.shadow, install, make_shadow)
        shadow_switch.sync()
    return Components(
        service, monitor, experiment, storage, pruner, model_sync, rollouts, shadow_switch
    )


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
    return ShadowScorer(predictors[settings.shadow_version], storage.shadow, metrics)


def build_app(settings: Settings) -> WSGIApp:
    """The production app: multiprocess metrics when the start script asked for them."""
    problems = token_problems(settings)
    if problems:  # `mlops serve` says so first; this guards a server started some other way
        raise ValueError("; ".join(problems))
    if multiprocess_enabled():
        metrics, registry = Metrics(registry=None), exposition_registry()
    else:
        registry = CollectorRegistry()
        metrics = Metrics(registry)
    components = build_components(settings, metrics, publish_gauges=False)
    for task in components.background_tasks(settings):
        Refresher([task]).start()
    return create_app(
        settings,
        components.service,
        registry,
        components.monitor,
        components.experiment,
        reports=components.storage.reports if components.storage is not None else None,
        rollouts=components.rollouts,
        shadow_switch=components.shadow_switch,
        runtime=components.storage.runtime if components.storage is not None else None,
        retrains=components.storage.retrains if components.storage is not None else None,
    )


def build_grpc(settings: Settings) -> GrpcProcess:
    """The V2 gRPC service: its own process beside the HTTP workers, sharing their metric files."""
    from mlops_pipeline.rpc.server import grpc_server
    from mlops_pipeline.rpc.service import InferenceServicer

    metrics = Metrics(registry=None) if multiprocess_enabled() else Metrics(CollectorRegistry())
    components = build_components(settings, metrics, publish_gauges=False)
    refreshers = [Refresher([task]) for task in components.background_tasks(settings)]
    for refresher in refreshers:
        refresher.start()
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
    return GrpcProcess(server, components, refreshers)


@dataclass(frozen=True)
class GrpcProcess:
    server: grpc.Server
    components: Components
    refreshers: list[Refresher] = field(default_factory=list)

    def close(self) -> None:
        for refresher in self.refreshers:
            refresher.stop()
        self.components.close()


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
