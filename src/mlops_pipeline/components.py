"""What a process serves with, built once by the composition root (bootstrap.py).

The HTTP app, the gRPC service and the monitor all take one ``Components``: a collaborator is
added here and in the builder, never to a parameter list copied into every factory and test.
Everything long-lived that it holds is stopped by ``close``.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass, field

from mlops_pipeline.config import Settings
from mlops_pipeline.delivery.service import RolloutService
from mlops_pipeline.experiment.service import ExperimentService
from mlops_pipeline.monitoring.drift_monitor import DriftMonitor, Refresher
from mlops_pipeline.monitoring.leader import Task
from mlops_pipeline.monitoring.reports import FreshReports
from mlops_pipeline.monitoring.retention import LogPruner
from mlops_pipeline.retraining.queue import RetrainQueue
from mlops_pipeline.retraining.service import Retrainer, retrain_plan
from mlops_pipeline.retraining.worker import RetrainWorker
from mlops_pipeline.serving.inference import WATCHDOG
from mlops_pipeline.serving.model_sync import ModelSync
from mlops_pipeline.serving.service import PredictionService
from mlops_pipeline.serving.shadow import ShadowSwitch
from mlops_pipeline.storage import Storage

RETRAIN_POLL_SECONDS = 2.0  # queued retrains (API, drift alert) start within this


@dataclass(frozen=True)
class Components:
    service: PredictionService
    # Both need the prediction log; None when it is switched off (as is everything below).
    monitor: DriftMonitor | None
    experiment: ExperimentService | None
    storage: Storage | None = None
    pruner: LogPruner | None = None
    model_sync: ModelSync | None = None
    rollouts: RolloutService | None = None
    shadow_switch: ShadowSwitch | None = None
    reports: FreshReports | None = None
    retrains: RetrainQueue | None = None
    # The periodic syncs ``start`` began; a copy made by ``dataclasses.replace`` starts empty.
    _running: list[Refresher] = field(default_factory=list, init=False, repr=False, compare=False)

    def start(self, settings: Settings) -> None:
        """Start a serving process's periodic syncs (see ``background_tasks``): a thread each,
        so a slow one (a model's bytes loading) never delays another (the split)."""
        for task in self.background_tasks(settings):
            refresher = Refresher([task])
            refresher.start()
            self._running.append(refresher)

    def close(self) -> None:
        """Stop every thread and connection this holds; safe to call again. The syncs stop
        first (they use the rest), then the shadow scorer (it writes), then the pool."""
        while self._running:
            self._running.pop().stop()
        if self.service.shadow is not None:
            self.service.shadow.close()
        if self.storage is not None:
            self.storage.close()
        WATCHDOG.close()

    def database_answers(self) -> bool:
        """Readiness: whether the database answers (one query a second at most); true when
        this process has none."""
        return self.storage is None or self.storage.runtime.reachable()

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
