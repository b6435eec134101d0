"""Shadow scoring: a challenger scores live requests in the background, never in the response."""

from __future__ import annotations

import contextlib
import logging
import queue
import threading
import time
from collections.abc import Callable
from dataclasses import dataclass

import numpy as np
from numpy.typing import NDArray

from mlops_pipeline.monitoring.metrics import Metrics
from mlops_pipeline.schema.rows import TypedBatch
from mlops_pipeline.serving.inference import OnnxPredictor
from mlops_pipeline.storage.runtime import UNSET, RuntimeSettings
from mlops_pipeline.storage.shadow import ShadowStore

logger = logging.getLogger(__name__)


@dataclass(frozen=True)
class ShadowJob:
    request_id: str
    primary_version: str
    rows: NDArray[np.float64] | TypedBatch  # as the primary version was fed
    primary_classes: NDArray[np.int64]


SHADOW_SETTING = "shadow_version"


class ShadowScorer:
    """Queues requests for the shadow version; a full queue drops work rather than slow serving."""

    def __init__(
        self,
        predictor: OnnxPredictor,
        store: ShadowStore,
        metrics: Metrics,
        capacity: int = 1_000,
        clock: Callable[[], float] = time.time,
    ) -> None:
        self.version = predictor.version
        self._predictor = predictor
        self._store = store
        self._metrics = metrics
        self._clock = clock
        self._queue: queue.Queue[ShadowJob | None] = queue.Queue(maxsize=capacity)
        self._thread = threading.Thread(target=self._run, name="shadow", daemon=True)

    def start(self) -> ShadowScorer:
        """Start scoring in the background (jobs submitted before wait in the queue)."""
        if not self._thread.is_alive() and self._thread.ident is None:
            self._thread.start()
        return self

    def submit(self, job: ShadowJob) -> None:
        if job.primary_version == self.version:
            return  # the shadow answered this one itself
        try:
            self._queue.put_nowait(job)
        except queue.Full:
            self._metrics.count_shadow_dropped()

    def drain(self, timeout: float = 5.0) -> None:
        """Wait until every queued job is scored (tests, shutdown)."""
        deadline = time.monotonic() + timeout
        while self._queue.unfinished_tasks and time.monotonic() < deadline:
            time.sleep(0.005)

    def close(self, timeout: float = 5.0) -> None:
        """Finish the queued work, then end the thread; never blocks past ``timeout`` (a full
        queue behind a slow database must not hang a request that switched the shadow off)."""
        if self._thread.ident is None or not self._thread.is_alive():
            return  # never started, or closed already
        with contextlib.suppress(queue.Full):
            self._queue.put(None, timeout=timeout)
        self._thread.join(timeout=timeout)

    def _run(self) -> None:
        while True:
            job = self._queue.get()
            try:
                if job is None:
                    return
                self._score(job)
            except Exception:
                logger.exception("shadow scoring failed")
            finally:
                self._queue.task_done()

    def _score(self, job: ShadowJob) -> None:
        classes, _ = self._predictor.predict(job.rows)
        agreed = int(np.sum(classes == job.primary_classes))
        disagreed = len(classes) - agreed
        self._store.record_shadow(
            job.request_id, job.primary_version, self.version, len(classes), agreed, self._clock()
        )
        self._metrics.count_shadow(self.version, agreed, disagreed)


class ShadowSwitch:
    """Adopt the shadow version stored at run time (`PUT /config/shadow`) in this process.

    ``make`` builds a started scorer for a served version; the old scorer's thread is stopped.
    """

    def __init__(
        self,
        settings: RuntimeSettings,
        current: Callable[[], ShadowScorer | None],
        install: Callable[[ShadowScorer | None], None],
        make: Callable[[str], ShadowScorer | None],
    ) -> None:
        self._settings = settings
        self._current = current
        self._install = install
        self._make = make
        # The refresher thread and `PUT /config/shadow` both sync: one at a time, or both could
        # build a scorer and one scorer's thread would never be stopped.
        self._lock = threading.Lock()

    def sync(self) -> None:
        with self._lock:
            self._sync()

    def _sync(self) -> None:
        wanted = self._settings.get(SHADOW_SETTING)
        if wanted is UNSET:
            return  # nobody switched it at run time: MLOPS_SHADOW_VERSION stands
        scorer = self._current()
        if (scorer.version if scorer is not None else None) == wanted:
            return
        replacement = self._make(wanted) if isinstance(wanted, str) else None
        if isinstance(wanted, str) and replacement is None:
            return  # not served here (yet): the model sync may still be loading it
        self._install(replacement)
        if scorer is not None:
            scorer.close()

    def set(self, version: str | None, actor: str) -> None:
        """Store the shadow version for every replica (None: off) and adopt it here at once."""
        self._settings.set(SHADOW_SETTING, version, actor, time.time())
        self.sync()
