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


class RetrainWorker:
    def __init__(
        self,
        runs: RetrainStore,
        retrainer: Retrainer,
        clock: Callable[[], float] = time.time,
        finished: Callable[[str, str], None] = lambda _trigger, _outcome: None,
        holder: str | None = None,
    ) -> None:
        """``finished(trigger, outcome)`` is told how each run ended (the metrics count it);
        ``holder``: this monitor's identity, recorded on the runs it claims."""
        self._runs = runs
        self._holder = holder
        self._finished = finished
        self._retrainer = retrainer
        self._clock = clock
        self._thread: threading.Thread | None = None
        self._current: int | None = None

    @property
    def busy(self) -> bool:
        return self._thread is not None and self._thread.is_alive()

    def tick(self) -> None:
        """Claim the queued run, if any, and start it; a no-op while one runs here."""
        if self.busy:
            return
        now = self._clock()
        expired = self._runs.expire(now)
        if expired:
            logger.warning("marked %d expired or abandoned retraining run(s) failed", expired)
        if self._holder is not None:
            # Only the leader ticks: a run another monitor holds lost its monitor, and would
            # otherwise block every retrain until it expires.
            for run_id, holder in self._runs.reclaim(self._holder, now):
                logger.warning(
                    "retraining run %d failed: its monitor %s is gone (holder gone)", run_id, holder
                )
        run = self._runs.claim(now, self._holder)
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
        self._current = run.id
        self._thread.start()

    def close(self) -> None:
        """The monitor stops: a run still training here is recorded as failed (its daemon thread
        ends with the process), so it does not hold the open slot until it expires."""
        if self.busy and self._current is not None:
            try:
                self._runs.finish(self._current, FAILED, "the monitor stopped while it ran",
                                  self._clock())  # fmt: skip
            except Exception:
                logger.exception("could not record retraining run %d as failed", self._current)

    def join(self, timeout: float | None = None) -> None:
        if self._thread is not None:
            self._thread.join(timeout)
