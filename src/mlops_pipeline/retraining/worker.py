"""The leading monitor runs queued retrains, one at a time, on a thread of its own: a retrain
takes seconds of CPU, and drift, the experiment report and the rollout controller keep ticking
meanwhile."""

from __future__ import annotations

import logging
import threading
import time
from collections.abc import Callable

from mlops_pipeline.retraining.champion import RetrainRefused
from mlops_pipeline.retraining.service import Retrainer
from mlops_pipeline.storage.retrains import FAILED, REFUSED, REGISTERED, RetrainStore

logger = logging.getLogger(__name__)
# A run still "running" after this long belongs to a monitor that stopped mid-way.
STALE_SECONDS = 3_600.0


class RetrainWorker:
    def __init__(
        self,
        runs: RetrainStore,
        retrainer: Retrainer,
        clock: Callable[[], float] = time.time,
        stale_seconds: float = STALE_SECONDS,
        finished: Callable[[str, str], None] = lambda _trigger, _outcome: None,
    ) -> None:
        """``finished(trigger, outcome)`` is told how each run ended (the metrics count it)."""
        self._runs = runs
        self._finished = finished
        self._retrainer = retrainer
        self._clock = clock
        self._stale = stale_seconds
        self._thread: threading.Thread | None = None

    @property
    def busy(self) -> bool:
        return self._thread is not None and self._thread.is_alive()

    def tick(self) -> None:
        """Claim the queued run, if any, and start it; a no-op while one runs here."""
        if self.busy:
            return
        now = self._clock()
        abandoned = self._runs.abandon_stale(now - self._stale, now)
        if abandoned:
            logger.warning("marked %d abandoned retraining run(s) failed", abandoned)
        run = self._runs.claim(now)
        if run is None:
            return
        logger.warning("retraining run %d (%s by %s) starts", run.id, run.trigger, run.actor)

        def work() -> None:
            try:
                outcome = self._retrainer.execute(run)
                logger.warning("retraining run %d: %s", run.id, outcome.summary())
                self._finished(run.trigger, REGISTERED)
            except RetrainRefused as exc:
                logger.warning("retraining run %d refused: %s", run.id, exc)
                self._finished(run.trigger, REFUSED)
            except Exception:  # recorded as failed by execute; the monitor keeps running
                logger.exception("retraining run %d failed", run.id)
                self._finished(run.trigger, FAILED)

        self._thread = threading.Thread(target=work, name=f"retrain-{run.id}", daemon=True)
        self._thread.start()

    def join(self, timeout: float | None = None) -> None:
        if self._thread is not None:
            self._thread.join(timeout)
