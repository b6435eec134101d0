"""Drift monitor: recomputes the drift report from the shared prediction log, off the hot path.

Each gunicorn worker runs one monitor thread; they read the same log window, so whichever worker
answers a scrape or a GET /drift reports the same state (to within one interval).
"""

from __future__ import annotations

import logging
import threading
import time
from collections.abc import Callable
from typing import Any

from mlops_pipeline.drift import Reference, Window, drift_report
from mlops_pipeline.metrics import Metrics
from mlops_pipeline.store import PredictionStore

logger = logging.getLogger(__name__)


class DriftMonitor:
    def __init__(
        self,
        reference: Reference,
        store: PredictionStore,
        metrics: Metrics,
        window: int,
        min_window: int,
        threshold: float,
        clock: Callable[[], float] = time.time,
    ) -> None:
        self.reference = reference
        self._store = store
        self._metrics = metrics
        self._window = window
        self._min_window = min_window
        self._threshold = threshold
        self._clock = clock
        self._latest: dict[str, Any] | None = None
        self._lock = threading.Lock()
        self._stop = threading.Event()
        self._thread: threading.Thread | None = None
        metrics.initialise_drift(reference.feature_names)

    def refresh(self) -> dict[str, Any]:
        now = self._clock()
        rows = self._store.newest_rows(self._window)
        rejected = (
            self._store.count_rejections(rows.oldest_created_at)
            if rows.oldest_created_at is not None
            else 0
        )
        window = Window(rows.features, rows.predictions, rows.versions, rejected)
        report = drift_report(self.reference, window, self._threshold, self._min_window, now)
        self._metrics.set_drift(report)
        with self._lock:
            self._latest = report
        return report

    def latest(self, max_age_seconds: float) -> dict[str, Any]:
        """The newest report, recomputed first if it is older than ``max_age_seconds``."""
        with self._lock:
            report = self._latest
        if report is None or self._clock() - report["computed_at"] > max_age_seconds:
            report = self.refresh()
        return report

    def start(self, interval_seconds: float) -> None:
        self._thread = threading.Thread(
            target=self._run, args=(interval_seconds,), name="drift-monitor", daemon=True
        )
        self._thread.start()

    def stop(self) -> None:
        self._stop.set()
        if self._thread is not None:
            self._thread.join(timeout=5)

    def _run(self, interval_seconds: float) -> None:
        while True:
            try:
                self.refresh()
            except Exception:  # keep monitoring through a transient failure (e.g. a locked log)
                logger.exception("drift refresh failed")
            if self._stop.wait(interval_seconds):
                return
