"""The leader monitor's stored reports as a replica serves them: fresh ones only.

Every replica answering with the monitor's stored body gives byte-identical drift and experiment
reports across replicas; a stale or missing one means no monitor runs (a single process), and
the replica computes its own.
"""

from __future__ import annotations

import time

from mlops_pipeline.errors import StoreUnavailable
from mlops_pipeline.storage.reports import ReportStore


class FreshReports:
    def __init__(self, store: ReportStore, max_age_seconds: float) -> None:
        self._store = store
        self._max_age = max_age_seconds

    def current(self, name: str) -> str | None:
        """The stored JSON body of report ``name`` while it is fresh, else None."""
        try:
            stored = self._store.load(name)
        except StoreUnavailable:
            return None  # the replica computes its own (which may fail the same way, as a 503)
        if stored is None or time.time() - stored.computed_at > self._max_age:
            return None
        return stored.body
