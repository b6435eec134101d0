"""Whether the database answers, for readiness probes: asked at most once per ``max_age``.

Probes from a load balancer and an orchestrator arrive every few seconds per worker; each one
querying the database would add load exactly when it is struggling. One trivial query per
interval answers them all, and a thread that finds another one asking takes the last answer
instead of waiting.
"""

from __future__ import annotations

import threading
import time
from collections.abc import Callable

from mlops_pipeline.storage.database import Database, StoreUnavailable


class DatabaseCheck:
    def __init__(
        self,
        database: Database,
        max_age_seconds: float = 1.0,
        clock: Callable[[], float] = time.monotonic,
    ) -> None:
        self._db = database
        self._max_age = max_age_seconds
        self._clock = clock
        self._asking = threading.Lock()
        self._answer = True
        self._fresh_until = float("-inf")

    def answers(self) -> bool:
        if self._clock() < self._fresh_until or not self._asking.acquire(blocking=False):
            return self._answer
        try:
            try:
                self._db.fetchone("SELECT 1")
                self._answer = True
            except StoreUnavailable:
                self._answer = False
            self._fresh_until = self._clock() + self._max_age
            return self._answer
        finally:
            self._asking.release()
