"""Background monitoring: the drift report, recomputed from the shared log off the hot path.

Each gunicorn worker runs one Refresher thread; the workers read the same log window, so whichever
worker answers a scrape or a GET /drift reports the same state (to within one interval).
"""

from __future__ import annotations

import logging
import math
import threading
import time
from collections.abc import Callable, Sequence
from dataclasses import replace

import numpy as np
from numpy.typing import NDArray

from mlops_pipeline.monitoring.drift import DriftReport, Reference, Window, drift_report
from mlops_pipeline.monitoring.metrics import Metrics
from mlops_pipeline.monitoring.typed_drift import typed_drift_report
from mlops_pipeline.monitoring.typed_reference import TypedReference, TypedWindow
from mlops_pipeline.protocol.clients import newest_per_client
from mlops_pipeline.storage.predictions import PredictionLog
from mlops_pipeline.storage.records import LoggedRows

logger = logging.getLogger(__name__)


MAX_DEEPER_READS = 3  # at most 64 times the first read (213,000 rows at the defaults)


def bounded_window(clients: Sequence[str | None], size: int, max_share: float) -> NDArray[np.intp]:
    """Indices (oldest first) of the newest ``size`` rows once each client keeps at most
    ceil(``max_share`` * ``size``) of its newest rows; ``clients`` runs oldest to newest.

    Drift is meant to follow the traffic, not one caller: without the bound, a hundred identical
    requests fill the window and raise an alarm.
    """
    cap = max(1, math.ceil(max_share * size))
    return np.array(newest_per_client(clients, size, cap), dtype=np.intp)


class DriftMonitor:
    def __init__(
        self,
        reference: Reference | TypedReference,
        store: PredictionLog,
        metrics: Metrics | None,
        window: int,
        min_window: int,
        threshold: float,
        clock: Callable[[], float] = time.time,
        references: Callable[[], tuple[str, Reference | TypedReference]] | None = None,
        max_client_share: float = 1.0,
    ) -> None:
        """``references``: the (label, reference) to use now (the champion's data); without
        it, always ``reference``. ``max_client_share``: see ``bounded_window``."""
        self.reference = reference
        self._references = references
        self._store = store
        self._metrics = metrics
        self._window = window
        self._min_window = min_window
        self._threshold = threshold
        self._max_client_share = max_client_share
        self._clock = clock
        self._latest: DriftReport | None = None
        self._lock = threading.Lock()
        # A typed schema's rows are in the log's JSON column, an all-numeric one's in the blob.
        self._typed = isinstance(reference, TypedReference)
        self._read = store.newest_typed_rows if self._typed else store.newest_rows
        if metrics is not None:  # only the monitor publishes drift gauges
            metrics.initialise_drift(reference.feature_names)

    def refresh(self) -> DriftReport:
        now = self._clock()
        rows, kept = self._read_window()
        rejected = (
            self._store.count_rejections(rows.oldest_created_at)
            if rows.oldest_created_at is not None
            else 0
        )
        label, reference = self._current()
        if isinstance(reference, TypedReference):
            report = self._typed_report(reference, rows, kept, rejected, now)
        else:
            features, predictions, versions = rows.features, rows.predictions, rows.versions
            if kept is not None:
                features, predictions = features[kept], predictions[kept]
                versions = [versions[index] for index in kept]
            window = Window(features, predictions, versions, rejected)
            report = drift_report(reference, window, self._threshold, self._min_window, now)
        if self._references is not None:
            report = replace(report, reference=label)
        if self._metrics is not None:
            self._metrics.set_drift(report)
        with self._lock:
            self._latest = report
        return report

    def _current(self) -> tuple[str, Reference | TypedReference]:
        return ("", self.reference) if self._references is None else self._references()

    def _typed_report(
        self,
        reference: TypedReference,
        rows: LoggedRows,
        kept: NDArray[np.intp] | None,
        rejected: int,
        now: float,
    ) -> DriftReport:
        typed, predictions, versions = rows.typed or [], rows.predictions, rows.versions
        if kept is not None:
            typed, predictions = [typed[index] for index in kept], predictions[kept]
            versions = [versions[index] for index in kept]
        window = TypedWindow.from_rows(
            reference.feature_names, typed, predictions, versions, rejected
        )
        return typed_drift_report(reference, window, self._threshold, self._min_window, now)

    def _read_window(self) -> tuple[LoggedRows, NDArray[np.intp] | None]:
        """The newest rows and, where clients are bounded, the indices of the window they keep.

        The first read holds enough rows to fill the window with every client at its bound; one
        client's big batches can still fill it (a 10,000-row request is 10,000 rows), so it reads
        further back, within a bound, until other clients' rows fill the window.
        """
        if self._max_client_share >= 1:
            return self._read(self._window), None
        read, deeper = math.ceil(self._window / self._max_client_share), 0
        while True:
            rows = self._read(read)
            if rows.clients is None:
                return rows, None
            kept = bounded_window(rows.clients, self._window, self._max_client_share)
            filled = len(kept) >= self._window or len(rows.clients) < read
            if filled or deeper == MAX_DEEPER_READS:
                return rows, kept
            read, deeper = read * 4, deeper + 1

    def latest(self, max_age_seconds: float) -> DriftReport:
        """The newest report, recomputed first if it is older than ``max_age_seconds``."""
        with self._lock:
            report = self._latest
        if report is None or self._clock() - report.computed_at > max_age_seconds:
            report = self.refresh()
        return report


class Refresher:
    """One daemon thread running periodic tasks off the request path, each on its own interval.

    A failing task is logged and retried next time: a locked database must not end monitoring.
    """

    def __init__(self, tasks: list[tuple[float, Callable[[], object]]]) -> None:
        self._tasks = tasks
        self._stop = threading.Event()
        self._thread: threading.Thread | None = None

    def start(self) -> None:
        self._thread = threading.Thread(target=self._run, name="refresher", daemon=True)
        self._thread.start()

    def stop(self) -> None:
        self._stop.set()
        if self._thread is not None:
            self._thread.join(timeout=5)

    @property
    def running(self) -> bool:
        return self._thread is not None and self._thread.is_alive()

    def _run(self) -> None:
        due = [0.0] * len(self._tasks)
        while not self._stop.is_set():
            now = time.monotonic()
            for index, (interval, task) in enumerate(self._tasks):
                if now >= due[index]:
                    try:
                        task()
                    except Exception:
                        logger.exception(
                            "background task %s failed", getattr(task, "__name__", task)
                        )
                    due[index] = now + interval
            self._stop.wait(max(0.01, min(due) - time.monotonic()))
