"""Rollouts and their audit trail. Owner of the tables ``rollouts`` and ``rollout_events``.

A partial unique index allows one running rollout at a time across every replica and monitor;
each transition updates the rollout, changes the weights (through the weight store, in the same
transaction) and appends its event, so the audit can never disagree with what was applied.
"""

from __future__ import annotations

import json

from mlops_pipeline.rollout_plan import Plan, plan_from_json
from mlops_pipeline.storage.database import Cursor, Database, DuplicateKey, Row
from mlops_pipeline.storage.records import Rollout, RolloutEvent
from mlops_pipeline.storage.weights import lock_split, write_weights

RUNNING = "running"
COLUMNS = (
    "id, candidate, baseline, plan, state, step, step_started_at, step_weights_version,"
    " first_weights_version, weights_before, started_at, ended_at, reason, actor, last_evidence,"
    " first_log_id"
)


class RolloutRunning(Exception):
    """Another rollout is running (the partial unique index refused a second one)."""


class RolloutStore:
    def __init__(self, database: Database) -> None:
        self._db = database

    def start(
        self,
        candidate: str,
        baseline: str,
        plan: Plan,
        weights: dict[str, float],
        default_weights: dict[str, float],
        reason: str,
        actor: str,
        now: float,
        first_log_id: int,
    ) -> Rollout:
        """Insert the running rollout and apply its first split, in one transaction."""

        def write(cursor: Cursor) -> int:
            old, version = write_weights(
                cursor, self._db.dialect, default_weights, weights, actor, now
            )
            row = cursor.fetchone(
                "INSERT INTO rollouts (candidate, baseline, plan, state, step, step_started_at,"
                " step_weights_version, first_weights_version, weights_before, started_at,"
                " reason, actor, first_log_id) VALUES (?, ?, ?, ?, 0, ?, ?, ?, ?, ?, ?, ?, ?)"
                " RETURNING id",
                (
                    candidate, baseline, json.dumps(plan.to_json()), RUNNING, now, version, version,
                    json.dumps(old), now, reason, actor, first_log_id,
                ),
            )  # fmt: skip
            assert row is not None
            _event(cursor, int(row[0]), now, "started", RUNNING, 0, weights, reason)
            return int(row[0])

        try:
            rollout_id = self._db.transaction(write)
        except DuplicateKey:
            raise RolloutRunning("a rollout is already running") from None
        found = self.get(rollout_id)
        assert found is not None
        return found

    def transition(
        self,
        rollout: Rollout,
        event: str,
        state: str,
        step: int,
        weights: dict[str, float],
        reason: str,
        now: float,
        actor: str = "rollout-controller",
        evidence: dict[str, object] | None = None,
    ) -> bool:
        """Apply ``weights``, move the rollout, record the event; False if it is not running."""

        def write(cursor: Cursor) -> bool:
            # The split's lock first (the order every writer of the split takes), then a no-op
            # UPDATE of the rollout (PostgreSQL; SQLite's BEGIN IMMEDIATE already serializes
            # writers), so a concurrent abort and a controller decision cannot both see
            # "running" and the second overwrite the first.
            lock_split(cursor, self._db.dialect)
            if not cursor.execute(
                "UPDATE rollouts SET state = state WHERE id = ? AND state = ?",
                (rollout.id, RUNNING),
            ):
                return False  # finished meanwhile (aborted by a person, or another monitor)
            _old, version = write_weights(
                cursor, self._db.dialect, rollout.weights_before, weights, actor, now
            )
            ended = None if state == RUNNING else now
            started = now if step != rollout.step or event == "weights" else rollout.step_started_at
            cursor.execute(
                "UPDATE rollouts SET state = ?, step = ?, step_started_at = ?,"
                " step_weights_version = ?, ended_at = ?, reason = ?,"
                " last_evidence = COALESCE(?, last_evidence) WHERE id = ?",
                (
                    state, step, started, version, ended, reason,
                    None if evidence is None else json.dumps(evidence), rollout.id,
                ),
            )  # fmt: skip
            _event(cursor, rollout.id, now, event, state, step, weights, reason)
            return True

        return self._db.transaction(write)

    def note(self, rollout: Rollout, reason: str, evidence: dict[str, object]) -> None:
        """Keep the latest decision's reason and evidence (no transition: nothing audited)."""
        self._db.execute(
            "UPDATE rollouts SET reason = ?, last_evidence = ? WHERE id = ? AND state = ?",
            (reason, json.dumps(evidence), rollout.id, RUNNING),
        )

    def current(self) -> Rollout | None:
        row = self._db.fetchone(f"SELECT {COLUMNS} FROM rollouts WHERE state = ?", (RUNNING,))
        return None if row is None else _rollout(row)

    def latest(self) -> Rollout | None:
        row = self._db.fetchone(f"SELECT {COLUMNS} FROM rollouts ORDER BY id DESC LIMIT 1")
        return None if row is None else _rollout(row)

    def get(self, rollout_id: int) -> Rollout | None:
        row = self._db.fetchone(f"SELECT {COLUMNS} FROM rollouts WHERE id = ?", (rollout_id,))
        return None if row is None else _rollout(row)

    def history(self, limit: int) -> list[Rollout]:
        rows = self._db.fetchall(
            f"SELECT {COLUMNS} FROM rollouts ORDER BY id DESC LIMIT ?", (limit,)
        )
        return [_rollout(row) for row in rows]

    def events(self, rollout_id: int) -> list[RolloutEvent]:
        rows = self._db.fetchall(
            "SELECT id, rollout_id, at, event, state, step, weights, reason FROM rollout_events"
            " WHERE rollout_id = ? ORDER BY id",
            (rollout_id,),
        )
        return [
            RolloutEvent(
                int(r[0]), int(r[1]), float(r[2]), r[3], r[4], int(r[5]), json.loads(r[6]), r[7]
            )
            for r in rows
        ]


def _event(
    cursor: Cursor,
    rollout_id: int,
    now: float,
    event: str,
    state: str,
    step: int,
    weights: dict[str, float],
    reason: str,
) -> None:
    cursor.execute(
        "INSERT INTO rollout_events (rollout_id, at, event, state, step, weights, reason)"
        " VALUES (?, ?, ?, ?, ?, ?, ?)",
        (rollout_id, now, event, state, step, json.dumps(weights), reason),
    )


def _rollout(row: Row) -> Rollout:
    return Rollout(
        id=int(row[0]),
        candidate=row[1],
        baseline=row[2],
        plan=plan_from_json(json.loads(row[3])),
        state=row[4],
        step=int(row[5]),
        step_started_at=float(row[6]),
        step_weights_version=int(row[7]),
        first_weights_version=int(row[8]),
        weights_before=json.loads(row[9]),
        started_at=float(row[10]),
        ended_at=None if row[11] is None else float(row[11]),
        reason=row[12],
        actor=row[13],
        last_evidence=None if row[14] is None else json.loads(row[14]),
        first_log_id=int(row[15]),
    )
