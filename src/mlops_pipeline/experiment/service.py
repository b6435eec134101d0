"""The A/B experiment: ground truth in, per-version quality and a verdict out, weights at run time.

Like the prediction service it knows nothing about HTTP.
"""

from __future__ import annotations

import logging
import time
from collections.abc import Callable, Sequence
from typing import Any

import numpy as np

from mlops_pipeline.config import validate_weights
from mlops_pipeline.errors import UnknownRequest, UnknownVersion
from mlops_pipeline.experiment.report import (
    Comparison,
    ExperimentReport,
    PinnedStats,
    SampleRatio,
    Verdict,
    VersionStats,
)
from mlops_pipeline.experiment.statistics import (
    Decision,
    decide,
    msprt_pvalues,
    newcombe_difference,
    sample_ratio_pvalue,
    wilson_interval,
)
from mlops_pipeline.monitoring.metrics import Metrics
from mlops_pipeline.serving.routing import ABRouter
from mlops_pipeline.serving.validation import FeedbackItem
from mlops_pipeline.storage import Storage
from mlops_pipeline.storage.labels import Label
from mlops_pipeline.storage.records import (
    PINNED,
    LabelSequence,
    LoggedPrediction,
    StoredWeights,
    WeightChange,
)
from mlops_pipeline.storage.weights import RolloutControlsWeights, VersionRetired
from mlops_pipeline.telemetry.tracing import span

# Raised by change_weights; re-exported so callers mapping it to an answer need not import storage.
__all__ = ["ExperimentService", "RolloutControlsWeights"]

logger = logging.getLogger(__name__)
LATENCY_SAMPLE = 10_000


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
        # The accuracy and sample-ratio gauges come from one place (the monitor): replicas that
        # computed their own would export disagreeing values.
        self._publish_gauges = publish_gauges
        self._log = storage.predictions
        self._labels = storage.labels
        self._weights = storage.weights
        self._shadow = storage.shadow
        self._router = router
        self._metrics = metrics
        self.versions = list(versions)
        self.champion = self.versions[0]  # the catalogue's first version is the incumbent
        self._class_names = list(class_names)
        self._alpha, self._tau, self._min_labels, self._srm_alpha = (
            alpha,
            tau,
            min_labels,
            srm_alpha,
        )
        self._clock = clock
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
        n_classes = len(self._class_names)
        confusion = {v: np.zeros((n_classes, n_classes), dtype=int) for v in self.versions}
        for version, predicted, label, count in self._labels.label_counts():
            if version in confusion and predicted < n_classes and label < n_classes:
                confusion[version][label, predicted] += count
        stored = self._weights.current()
        since = stored.changed_at if stored is not None else None
        # The sample-ratio test compares traffic with the split it was routed under.
        served_since = self._log.served_requests(stored.version if stored is not None else None)
        served_total = served_since if stored is None else self._log.served_requests()
        weights = self._router.weights
        total_since = sum(served_since.values())
        per_version = {}
        for version in self.versions:
            matrix = confusion[version]
            labelled, correct = int(matrix.sum()), int(np.trace(matrix))
            low, high = wilson_interval(correct, labelled)
            latencies = self._log.recent_latencies(version, LATENCY_SAMPLE)
            per_version[version] = VersionStats(
                served=served_total.get(version, 0),
                weight=weights.get(version, 0.0),
                traffic_share=served_since.get(version, 0) / total_since if total_since else 0.0,
                labelled=labelled,
                accuracy=correct / labelled if labelled else None,
                accuracy_interval=(low, high),
                confusion_matrix=matrix.tolist(),
                latency_ms_p50=float(np.percentile(latencies, 50)) if len(latencies) else None,
                latency_ms_p99=float(np.percentile(latencies, 99)) if len(latencies) else None,
            )
            if labelled and self._publish_gauges:
                self._metrics.set_accuracy(version, correct / labelled)
        # Over randomization units, not requests: one sticky id sent many times is one user, as
        # routing treated it, and must not make a mismatch (and hold a rollout) on its own.
        units = self._log.units_by_version(0, stored.version if stored is not None else None)
        srm_p = sample_ratio_pvalue(units, weights)
        mismatch = srm_p < self._srm_alpha
        if self._publish_gauges:
            self._metrics.set_sample_ratio_mismatch(mismatch)
        sequence = self._labels.label_sequence()
        comparisons = [
            self._compare(challenger, confusion, sequence) for challenger in self.versions[1:]
        ]
        return ExperimentReport(
            champion=self.champion,
            classes=self._class_names,
            versions=per_version,
            pinned=self._pinned(),
            comparisons=[c for c, _ in comparisons],
            decision=self._overall(comparisons),
            shadow=self._shadow.shadow_agreement(),
            sample_ratio=SampleRatio(srm_p, self._srm_alpha, mismatch, since, units),
            computed_at=self._clock(),
        )

    def _pinned(self) -> dict[str, PinnedStats]:
        """Traffic whose caller named the version: reported, never part of the experiment.

        Letting it count would let any caller steer the verdict and trip the sample-ratio test.
        """
        served = self._log.served_requests(assignment=PINNED)
        labelled: dict[str, list[int]] = {}
        for version, predicted, label, count in self._labels.label_counts(PINNED):
            totals = labelled.setdefault(version, [0, 0])
            totals[0] += count
            totals[1] += count if predicted == label else 0
        return {
            version: PinnedStats(
                served=served.get(version, 0),
                labelled=labelled.get(version, [0, 0])[0],
                accuracy=(
                    labelled[version][1] / labelled[version][0] if version in labelled else None
                ),
            )
            for version in sorted(set(served) | set(labelled))
        }

    def _compare(
        self, challenger: str, confusion: dict[str, np.ndarray], sequence: LabelSequence
    ) -> tuple[Comparison, Decision]:
        champion = self.champion
        alpha = self._alpha / max(1, len(self.versions) - 1)  # Bonferroni over challengers
        pair = np.array([v in (champion, challenger) for v in sequence.versions], dtype=bool)
        is_challenger = np.array([v == challenger for v in sequence.versions], dtype=bool)[pair]
        pvalues = msprt_pvalues(
            is_challenger, sequence.correct[pair], tau=self._tau, min_per_arm=self._min_labels
        )
        pvalue = float(pvalues[-1]) if len(pvalues) else 1.0
        a, b = confusion[champion], confusion[challenger]
        difference, low, high = newcombe_difference(
            int(np.trace(a)), int(a.sum()), int(np.trace(b)), int(b.sum())
        )
        decision = decide(
            champion,
            challenger,
            pvalue,
            difference,
            {champion: int(a.sum()), challenger: int(b.sum())},
            alpha=alpha,
            min_per_arm=self._min_labels,
        )
        comparison = Comparison(
            champion=champion,
            challenger=challenger,
            accuracy_difference=difference,
            difference_interval=(low, high),
            always_valid_pvalue=pvalue,
            alpha=alpha,
            decision=decision.label,
            reason=decision.reason,
        )
        return comparison, decision

    def _overall(self, comparisons: list[tuple[Comparison, Decision]]) -> Verdict:
        promoted = [
            (abs(c.accuracy_difference), d) for c, d in comparisons if d.action == "promote"
        ]
        if promoted:
            best = max(promoted, key=lambda pair: pair[0])[1]
            return Verdict(best.label, best.reason)
        if comparisons and all(d.action == "keep" for _, d in comparisons):
            return Verdict(f"keep {self.champion}", comparisons[0][1].reason)
        waiting = [d.reason for _, d in comparisons if d.action == "continue"]
        return Verdict("continue", "; ".join(waiting) or "no challenger")
