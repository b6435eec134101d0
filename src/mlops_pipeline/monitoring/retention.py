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

from mlops_pipeline.monitoring.metrics import PRUNE_REASONS, Metrics
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
        # Counted once a run: COUNT(*) reads a whole index. Requests logged meanwhile are
        # newer than every candidate and only raise the excess, which the next run sees.
        requests = log.count_requests()
        # Fixed for the run too: ids grow, so the newest requests later are newer still.
        protected_from = (
            log.newest_id(policy.protected_newest - 1) if policy.protected_newest else None
        )
        by_age = by_rows = 0
        # No protected_from with a window to protect: fewer requests than it, all protected.
        if protected_from is not None or not policy.protected_newest:
            for _ in range(self._max_chunks):
                excess = requests - by_age - by_rows - policy.max_rows
                # Over the bound, labelled requests inside retention are skipped by the query,
                # so however many sit at the oldest edge, the unlabelled ones behind them go.
                skip_labelled = cutoff if excess > 0 else None
                oldest = [Candidate(*row) for row in log.oldest(policy.chunk, skip_labelled)]
                age_ids, row_ids = choose(oldest, policy, now, excess, protected_from)
                if not age_ids and not row_ids:
                    break  # the protected window, or nothing expired and no excess
                by_age += log.delete(age_ids)
                by_rows += log.delete(row_ids)
        result = PruneResult(
            by_age,
            by_rows,
            self._in_chunks(self._storage.labels.prune, cutoff),
            # Bad inputs and failed inferences: both only feed recent-window signals.
            self._in_chunks(log.prune_rejections, cutoff)
            + self._in_chunks(self._storage.failures.prune, cutoff),
            self._in_chunks(self._storage.shadow.prune, cutoff),
            requests - by_age - by_rows,
            self._storage.database.size_bytes(),
        )
        if self._metrics is not None:
            for reason in PRUNE_REASONS:
                self._metrics.count_pruned(reason, getattr(result, reason))
            self._metrics.set_log_size(result.rows_left, result.bytes_in_use, self._alert_bytes)
        return result

    def _in_chunks(self, delete: Callable[[float, int], int], before: float) -> int:
        """Rows older than ``before``, at most a chunk per delete, at most max_chunks deletes."""
        deleted = 0
        for _ in range(self._max_chunks):
            count = delete(before, self._policy.chunk)
            deleted += count
            if count < self._policy.chunk:
                break
        return deleted
