"""The A/B experiment: ground truth in, per-version quality and a verdict out, weights at run time.

Like the prediction service it knows nothing about HTTP. The verdict's computation lives in
analysis.py; this service owns the served versions, the feedback join and the split.
"""

from __future__ import annotations

import logging
import time
from collections.abc import Callable, Sequence
from typing import Any

from mlops_pipeline.catalogue import validate_weights
from mlops_pipeline.errors import UnknownRequest, UnknownVersion
from mlops_pipeline.experiment.analysis import ExperimentAnalysis
from mlops_pipeline.experiment.report import ExperimentReport
from mlops_pipeline.monitoring.metrics import Metrics
from mlops_pipeline.serving.routing import ABRouter
from mlops_pipeline.serving.validation import FeedbackItem
from mlops_pipeline.storage import Storage
from mlops_pipeline.storage.labels import Label
from mlops_pipeline.storage.records import LoggedPrediction, StoredWeights, WeightChange
from mlops_pipeline.storage.weights import RolloutControlsWeights, VersionRetired
from mlops_pipeline.telemetry.tracing import span

# Raised by change_weights; re-exported so callers mapping it to an answer need not import storage.
__all__ = ["ExperimentService", "RolloutControlsWeights"]

logger = logging.getLogger(__name__)


class ExperimentService:
    def __init__(
        self,
        storage: Storage,
        router: ABRouter,
        metrics: Metrics,
        versions: Sequence[str],
        class_names: Sequence[str],
        alpha: float = 0.05,
        tau: float = 0.05,
        min_labels: int = 100,
        srm_alpha: float = 0.001,
        clock: Callable[[], float] = time.time,
        publish_gauges: bool = True,
        abort_rollout: Callable[[str], int | None] | None = None,
    ) -> None:
        """``abort_rollout(actor)``: stop the running rollout, returning its id (None when none
        still runs); a change of the split may ask for it first."""
        self._log = storage.predictions
        self._labels = storage.labels
        self._weights = storage.weights
        self._router = router
        self._metrics = metrics
        self.versions = list(versions)
        self.champion = self.versions[0]  # the catalogue's first version is the incumbent
        self._clock = clock
        # The accuracy and sample-ratio gauges come from one place (the monitor): replicas that
        # computed their own would export disagreeing values.
        self._analysis = ExperimentAnalysis(
            storage,
            router,
            metrics,
            class_names,
            alpha=alpha,
            tau=tau,
            min_labels=min_labels,
            srm_alpha=srm_alpha,
            clock=clock,
            publish_gauges=publish_gauges,
        )
        self._abort_rollout = abort_rollout
        self._applied_version = 0
        self._reported_version = 0  # the stored split last logged as one this replica can't serve
        self.sync_weights()

    def set_versions(self, versions: Sequence[str]) -> None:
        """The served versions changed (one registered or retired at run time)."""
        if self.champion not in versions and versions:
            self.champion = versions[0]  # the incumbent was retired: the next one leads
        self.versions = [self.champion, *(v for v in versions if v != self.champion)]
        self._applied_version = 0  # a stored split naming the new version can apply now

    # --- feedback --------------------------------------------------------------------------

    def record_feedback(self, items: Sequence[FeedbackItem]) -> list[dict[str, Any]]:
        """Join labels to logged predictions; all or nothing when a request id is unknown."""
        with span("feedback.join", {"mlops.labels": len(items)}):
            logged: list[LoggedPrediction] = []
            for item in items:
                found = self._log.logged_prediction(item.request_id, item.row_index)
                if found is None:
                    raise UnknownRequest(
                        f"no logged prediction for request {item.request_id!r} row {item.row_index}"
                    )
                logged.append(found)
            labels = [
                Label(item.request_id, item.row_index, prediction, item.label)
                for item, prediction in zip(items, logged, strict=True)
            ]
            first_labels = self._labels.save_labels(labels, self._clock())  # all or none
        results = []
        for item, prediction, first in zip(items, logged, first_labels, strict=True):
            correct = prediction.predicted == item.label
            if first:
                self._metrics.count_feedback(prediction.model_version, correct)
            results.append(
                {
                    "request_id": item.request_id,
                    "row_index": item.row_index,
                    "model_version": prediction.model_version,
                    "predicted": prediction.predicted,
                    "true_label": item.label,
                    "correct": correct,
                }
            )
        return results

    # --- weights ----------------------------------------------------------------------------

    def sync_weights(self) -> None:
        """Adopt the split another worker or replica stored, if its version is newer.

        Versions, not timestamps, decide: replicas' clocks may disagree, a counter cannot.
        """
        stored = self._weights.current()
        if stored is None or stored.version <= self._applied_version:
            self._metrics.set_weights_disagreement(False)
            return
        weights = stored.weights
        unserved = sorted(v for v, w in weights.items() if w > 0 and v not in self.versions)
        try:
            validate_weights(weights)
        except ValueError as exc:
            unserved.append(str(exc))
        if unserved:
            self._disagree(stored, unserved)
            return
        self._router.set_weights(
            {version: weights.get(version, 0.0) for version in self.versions}, stored.version
        )
        self._metrics.set_weights(self._router.weights)
        self._metrics.set_weights_disagreement(False)
        self._applied_version = stored.version

    def _disagree(self, stored: StoredWeights, unserved: list[str]) -> None:
        """Keep serving the split this replica has (the one it can), and say so: a gauge the
        WeightsDisagreement alert watches, and one log line per stored split, not per poll."""
        self._metrics.set_weights_disagreement(True)
        if stored.version == self._reported_version:
            return
        self._reported_version = stored.version
        logger.error(
            "this replica serves a split other than the stored one: stored split %d %s gives"
            " traffic to %s, which this replica does not serve (retired, or its bytes failed to"
            " load); serving %s (split %d) until a split it can serve is stored",
            stored.version, stored.weights, ", ".join(unserved), self._router.weights,
            self._router.version,
        )  # fmt: skip

    def change_weights(
        self,
        weights: dict[str, float],
        actor: str,
        abort_rollout: bool = False,
        on_abort: Callable[[int], None] | None = None,
    ) -> tuple[dict[str, float], dict[str, float]]:
        """Store and apply a new split; return (the split it replaced, the new one).

        Raises RolloutControlsWeights when a rollout runs and UnknownVersion when the split gives
        traffic to a retired version (both checked in the same transaction as the write).
        ``abort_rollout`` first stops a running rollout (one that ended meanwhile is no error);
        ``on_abort`` hears its id before the split changes, so the abort is recorded even when
        the change then fails (another rollout started in between).
        """
        if abort_rollout and self._abort_rollout is not None:
            aborted = self._abort_rollout(actor)
            if aborted is not None and on_abort is not None:
                on_abort(aborted)
        try:
            old, stored = self._weights.change(
                self._router.weights, weights, actor, self._clock(), unless_rollout=True
            )
        except VersionRetired as exc:  # retired since this replica last polled the catalogue
            raise UnknownVersion(str(exc)) from None
        self._router.set_weights(weights, stored.version)
        self._metrics.set_weights(self._router.weights)
        self._metrics.set_weights_disagreement(False)
        self._applied_version = stored.version
        return old, self._router.weights

    def history(self, limit: int) -> list[WeightChange]:
        return self._weights.history(limit)

    # --- the verdict ------------------------------------------------------------------------

    def report(self) -> ExperimentReport:
        return self._analysis.report(self.champion, self.versions)
