"""Retention of the prediction log: by age and by row count, in bounded chunks, off the request
path (a task of `mlops monitor`).

Never deleted: the newest requests the drift window reads, and, for the row-count bound, a
labelled prediction still inside retention (the experiment's evidence). Past retention, labels,
rejected inputs and shadow results go too.
"""

from __future__ import annotations

import time
from collections.abc import Callable
from dataclasses import dataclass

from mlops_pipeline.monitoring.metrics import Metrics
from mlops_pipeline.storage import Storage

DAY = 86_400.0


@dataclass(frozen=True)
class Policy:
    max_age_seconds: float
    max_rows: int  # answered requests
    protected_newest: int  # the newest requests are never deleted (the drift window reads them)
    chunk: int = 1_000  # rows per delete: short transactions never hold writers up for long


@dataclass(frozen=True)
class Candidate:
    id: int
    created_at: float
    labelled: bool


def choose(
    oldest: list[Candidate], policy: Policy, now: float, excess: int, protected_from: int | None
) -> tuple[list[int], list[int]]:
    """From the oldest requests (oldest first), ids to delete (by age, by row count).

    ``excess`` is how many requests exceed the row bound; ``protected_from`` the smallest id of
    the protected newest requests (None: nothing to protect).
    """
    cutoff = now - policy.max_age_seconds
    by_age: list[int] = []
    by_rows: list[int] = []
    for row in oldest:
        if protected_from is not None and row.id >= protected_from:
            break  # everything after is newer still
        if row.created_at < cutoff:
            by_age.append(row.id)
        elif len(by_age) + len(by_rows) < excess and not row.labelled:
            by_rows.append(row.id)
    # Deleting by age also reduces the excess.
    return by_age, by_rows[: max(0, excess - len(by_age))]


@dataclass(frozen=True)
class PruneResult:
    by_age: int
    by_rows: int
    labels: int
    rejections: int
    shadow: int
    rows_left: int
    bytes_in_use: int


class LogPruner:
    def __init__(
        self,
        storage: Storage,
        policy: Policy,
        metrics: Metrics | None = None,
        alert_bytes: int = 0,
        clock: Callable[[], float] = time.time,
        max_chunks: int = 100,
    ) -> None:
        self._storage = storage
        self._policy = policy
        self._metrics = metrics
        self._alert_bytes = alert_bytes
        self._clock = clock
        self._max_chunks = max_chunks  # bounds one run; the next run carries on

    def prune(self) -> PruneResult:
        log, policy = self._storage.predictions, self._policy
        now = self._clock()
        cutoff = now - policy.max_age_seconds
        by_age = by_rows = 0
        for _ in range(self._max_chunks):
            excess = log.count_requests() - policy.max_rows
            protected_from = (
                log.newest_id(policy.protected_newest - 1) if policy.protected_newest else None
            )
            oldest = [Candidate(*row) for row in log.oldest(policy.chunk)]
            if protected_from is None and policy.protected_newest:
                break  # fewer requests than the drift window: all protected
            age_ids, row_ids = choose(oldest, policy, now, excess, protected_from)
            if not age_ids and not row_ids:
                break
            by_age += log.delete(age_ids)
            by_rows += log.delete(row_ids)
        labels = self._storage.labels.prune(cutoff, policy.chunk * self._max_chunks)
        rejections = log.prune_rejections(cutoff, policy.chunk * self._max_chunks)
        shadow = self._storage.shadow.prune(cutoff, policy.chunk * self._max_chunks)
        result = PruneResult(
            by_age,
            by_rows,
            labels,
            rejections,
            shadow,
            log.count_requests(),
            self._storage.database.size_bytes(),
        )
        if self._metrics is not None:
            self._metrics.record_pruning(result, self._alert_bytes)
        return result
