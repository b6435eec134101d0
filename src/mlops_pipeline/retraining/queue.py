"""Asking for a retrain: the API queues a run; the leading `mlops monitor` claims and trains it.

The HTTP layer talks to this, not to the retrain store, so transports need no storage import.
"""

from __future__ import annotations

import time

from mlops_pipeline.storage.records import RetrainRun
from mlops_pipeline.storage.retrains import FAILED, RetrainBusy, RetrainStore

__all__ = ["FAILED", "RetrainBusy", "RetrainQueue", "RetrainRun"]


class RetrainQueue:
    def __init__(self, store: RetrainStore) -> None:
        self._store = store

    def queue(
        self, actor: str, version: str | None, rollout: bool, since_days: float | None
    ) -> RetrainRun:
        """Queue a run asked for through the API; raises RetrainBusy while another is open."""
        return self._store.open("api", actor, version, rollout, since_days, time.time())

    def recent(self, limit: int) -> list[RetrainRun]:
        return self._store.recent(limit)
