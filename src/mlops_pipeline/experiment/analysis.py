"""The experiment's analysis: per-version quality, the sample-ratio test and the verdict.

Reads the stored log, labels and split; computes an ``ExperimentReport`` (statistics.py holds
the tests themselves). The service (service.py) owns which versions run and who leads.
"""

from __future__ import annotations

import time
from collections.abc import Callable, Mapping, Sequence

import numpy as np

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
from mlops_pipeline.storage import Storage
from mlops_pipeline.storage.records import PINNED, LabelSequence

LATENCY_SAMPLE = 10_000


class ExperimentAnalysis:
    def __init__(
        self,
        storage: Storage,
        router: ABRouter,
        metrics: Metrics,
        class_names: Sequence[str],
        alpha: float,
        tau: float,
        min_labels: int,
        srm_alpha: float,
        clock: Callable[[], float] = time.time,
        publish_gauges: bool = True,
    ) -> None:
        self._publish_gauges = publish_gauges
        self._log = storage.predictions
        self._labels = storage.labels
        self._weights = storage.weights
        self._shadow = storage.shadow
        self._router = router
        self._metrics = metrics
        self._class_names = list(class_names)
        self._alpha, self._tau, self._min_labels, self._srm_alpha = (
            alpha,
            tau,
            min_labels,
            srm_alpha,
        )
        self._clock = clock

    def report(self, champion: str, versions: Sequence[str]) -> ExperimentReport:
        """``versions``: the served ones, ``champion`` first."""
        n_classes = len(self._class_names)
        confusion = {v: np.zeros((n_classes, n_classes), dtype=int) for v in versions}
        for version, predicted, label, count in self._labels.label_counts():
            if version in confusion and predicted < n_classes and label < n_classes:
                confusion[version][label, predicted] += count
        stored = self._weights.current()
        since = stored.changed_at if stored is not None else None
        # The sample-ratio test compares traffic with the split it was routed under.
        served_since = self._log.served_requests(stored.version if stored is not None else None)
        served_total = served_since if stored is None else self._log.served_requests()
        weights = self._router.weights
        per_version = self._per_version(versions, confusion, served_since, served_total, weights)
        # Over randomization units, not requests: one sticky id sent many times is one user, as
        # routing treated it, and must not make a mismatch (and hold a rollout) on its own.
        units = self._log.units_by_version(0, stored.version if stored is not None else None)
        srm_p = sample_ratio_pvalue(units, weights)
        mismatch = srm_p < self._srm_alpha
        if self._publish_gauges:
            self._metrics.set_sample_ratio_mismatch(mismatch)
        sequence = self._labels.label_sequence()
        comparisons = [
            self._compare(champion, challenger, len(versions), confusion, sequence)
            for challenger in versions[1:]
        ]
        return ExperimentReport(
            champion=champion,
            classes=self._class_names,
            versions=per_version,
            pinned=self._pinned(),
            comparisons=[c for c, _ in comparisons],
            decision=self._overall(champion, comparisons),
            shadow=self._shadow.shadow_agreement(),
            sample_ratio=SampleRatio(srm_p, self._srm_alpha, mismatch, since, units),
            computed_at=self._clock(),
        )

    def _per_version(
        self,
        versions: Sequence[str],
        confusion: dict[str, np.ndarray],
        served_since: Mapping[str, int],
        served_total: Mapping[str, int],
        weights: Mapping[str, float],
    ) -> dict[str, VersionStats]:
        total_since = sum(served_since.values())
        per_version = {}
        for version in versions:
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
        return per_version

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
        self,
        champion: str,
        challenger: str,
        n_versions: int,
        confusion: dict[str, np.ndarray],
        sequence: LabelSequence,
    ) -> tuple[Comparison, Decision]:
        alpha = self._alpha / max(1, n_versions - 1)  # Bonferroni over challengers
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

    def _overall(self, champion: str, comparisons: list[tuple[Comparison, Decision]]) -> Verdict:
        promoted = [
            (abs(c.accuracy_difference), d) for c, d in comparisons if d.action == "promote"
        ]
        if promoted:
            best = max(promoted, key=lambda pair: pair[0])[1]
            return Verdict(best.label, best.reason)
        if comparisons and all(d.action == "keep" for _, d in comparisons):
            return Verdict(f"keep {champion}", comparisons[0][1].reason)
        waiting = [d.reason for _, d in comparisons if d.action == "continue"]
        return Verdict("continue", "; ".join(waiting) or "no challenger")
