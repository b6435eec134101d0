"""Retraining runs: queued, claimed, finished. Owner of the table ``retrain_runs``.

The API and the monitor's webhook queue a run; the leading monitor claims and runs it, recording
itself as the run's ``holder``; the CLI records the run it does itself (no holder). ``open_slot``
(unique, NULL once finished) allows one open run across every process, so two retrains never race
for the same version name.
"""

from __future__ import annotations

import json

from mlops_pipeline.storage.database import Cursor, Database, DuplicateKey, Row
from mlops_pipeline.storage.records import RetrainRun

QUEUED, RUNNING = "queued", "running"
REGISTERED, REFUSED, FAILED = "registered", "refused", "failed"
COLUMNS = (
    "id, requested_at, trigger, actor, version, rollout, since_days, status, started_at,"
    " finished_at, message, result"
)
MAX_MESSAGE = 2_000
# A queued run the leading monitor did not claim in this long will not be (no monitor runs); a
# run still running after this long belongs to a process that stopped mid-way. Either would
# otherwise hold the one open slot for good.
QUEUED_SECONDS = 600
RUNNING_SECONDS = 1_800


class RetrainBusy(Exception):
    """Another retraining run is queued or running."""


class RetrainStore:
    def __init__(self, database: Database) -> None:
        self._db = database

    def open(
        self,
        trigger: str,
        actor: str,
        version: str | None,
        rollout: bool,
        since_days: float | None,
        now: float,
        running: bool = False,
    ) -> RetrainRun:
        """Queue a run (or record one that starts now); raises RetrainBusy when one is open.

        Runs left open by a process that went away are expired first (see ``expire``), so a
        crash never blocks retraining for good.
        """
        status = RUNNING if running else QUEUED

        def write(cursor: Cursor) -> Row | None:
            _expire(cursor, now)
            return cursor.fetchone(
                "INSERT INTO retrain_runs (requested_at, trigger, actor, version, rollout,"
                " since_days, status, open_slot, started_at, message)"
                " VALUES (?, ?, ?, ?, ?, ?, ?, 1, ?, '') RETURNING id",
                (now, trigger, actor, version, rollout, since_days, status,
                 now if running else None),
            )  # fmt: skip

        try:
            row = self._db.transaction(write)
        except DuplicateKey:
            raise RetrainBusy("a retraining run is already queued or running") from None
        assert row is not None
        found = self.get(int(row[0]))
        assert found is not None
        return found

    def expire(self, now: float) -> int:
        """Fail runs queued longer than QUEUED_SECONDS (no monitor claimed them) or running
        longer than RUNNING_SECONDS (the process running them stopped); how many."""
        return self._db.transaction(lambda cursor: _expire(cursor, now))

    def claim(self, now: float, holder: str | None = None) -> RetrainRun | None:
        """Move the queued run (if any) to running, held by ``holder`` (the leading monitor's
        identity); None when there is none or another took it."""

        def take(cursor: Cursor) -> int | None:
            row = cursor.fetchone("SELECT id FROM retrain_runs WHERE status = ?", (QUEUED,))
            if row is None:
                return None
            taken = cursor.execute(
                "UPDATE retrain_runs SET status = ?, started_at = ?, holder = ?"
                " WHERE id = ? AND status = ?",
                (RUNNING, now, holder, row[0], QUEUED),
            )
            return int(row[0]) if taken else None

        run_id = self._db.transaction(take)
        return None if run_id is None else self.get(run_id)

    def reclaim(self, leader: str, now: float) -> list[tuple[int, str]]:
        """Fail the runs a monitor other than ``leader`` holds, freeing the slot; their
        (id, holder). Only the leading monitor calls it: leadership is exclusive, so another
        monitor's run is one whose monitor lost the lock, which it does only by dying (or losing
        its database connection, when it stops leading and will not record the end either).
        """

        def write(cursor: Cursor) -> list[tuple[int, str]]:
            rows = cursor.fetchall(
                "SELECT id, holder FROM retrain_runs WHERE status = ? AND holder IS NOT NULL"
                " AND holder <> ?",
                (RUNNING, leader),
            )
            for run_id, holder in rows:
                cursor.execute(
                    "UPDATE retrain_runs SET status = ?, message = ?, finished_at = ?,"
                    " open_slot = NULL WHERE id = ? AND status = ?",
                    (FAILED, f"holder gone: monitor {holder} stopped leading while it ran",
                     now, run_id, RUNNING),
                )  # fmt: skip
            return [(int(run_id), str(holder)) for run_id, holder in rows]

        return self._db.transaction(write)

    def finish(
        self,
        run_id: int,
        status: str,
        message: str,
        now: float,
        version: str | None = None,
        result: dict[str, object] | None = None,
    ) -> None:
        # Only an open run ends here: one already failed (reclaimed by a new leader, expired)
        # keeps that end, so a late finish cannot turn it back into a success.
        self._db.execute(
            "UPDATE retrain_runs SET status = ?, message = ?, finished_at = ?, open_slot = NULL,"
            " version = COALESCE(?, version), result = ? WHERE id = ? AND status IN (?, ?)",
            (
                status,
                message[:MAX_MESSAGE],
                now,
                version,
                None if result is None else json.dumps(result),
                run_id,
                QUEUED,
                RUNNING,
            ),
        )

    def is_running(self, run_id: int) -> bool:
        row = self._db.fetchone("SELECT status FROM retrain_runs WHERE id = ?", (run_id,))
        return row is not None and row[0] == RUNNING

    def last_requested(self, trigger: str) -> float | None:
        row = self._db.fetchone(
            "SELECT MAX(requested_at) FROM retrain_runs WHERE trigger = ?", (trigger,)
        )
        return None if row is None or row[0] is None else float(row[0])

    def get(self, run_id: int) -> RetrainRun | None:
        row = self._db.fetchone(f"SELECT {COLUMNS} FROM retrain_runs WHERE id = ?", (run_id,))
        return None if row is None else _run(row)

    def recent(self, limit: int) -> list[RetrainRun]:
        rows = self._db.fetchall(
            f"SELECT {COLUMNS} FROM retrain_runs ORDER BY id DESC LIMIT ?", (limit,)
        )
        return [_run(row) for row in rows]


def _expire(cursor: Cursor, now: float) -> int:
    queued = cursor.execute(
        "UPDATE retrain_runs SET status = ?, message = ?, finished_at = ?, open_slot = NULL"
        " WHERE status = ? AND requested_at < ?",
        (FAILED, f"expired: no monitor started it within {QUEUED_SECONDS // 60} minutes"
         " (is `mlops monitor` running?)", now, QUEUED, now - QUEUED_SECONDS),
    )  # fmt: skip
    running = cursor.execute(
        "UPDATE retrain_runs SET status = ?, message = ?, finished_at = ?, open_slot = NULL"
        " WHERE status = ? AND started_at < ?",
        (FAILED, "abandoned: the process running it stopped", now, RUNNING,
         now - RUNNING_SECONDS),
    )  # fmt: skip
    return queued + running


def _run(row: Row) -> RetrainRun:
    return RetrainRun(
        id=int(row[0]),
        requested_at=float(row[1]),
        trigger=str(row[2]),
        actor=str(row[3]),
        version=None if row[4] is None else str(row[4]),
        rollout=bool(row[5]),
        since_days=None if row[6] is None else float(row[6]),
        status=str(row[7]),
        started_at=None if row[8] is None else float(row[8]),
        finished_at=None if row[9] is None else float(row[9]),
        message=str(row[10]),
        result=None if row[11] is None else json.loads(str(row[11])),
    )
