"""The traffic split set at run time, with a version number, and its audit trail.

Owner of the tables ``ab_weights`` (one row) and ``weight_changes``. Every change increments the
version in the same transaction as its audit record; replicas adopt a higher version, so no
replica's clock decides which split is newest.
"""

from __future__ import annotations

import json

from mlops_pipeline.storage.database import Cursor, Database
from mlops_pipeline.storage.records import StoredWeights, WeightChange


class RolloutControlsWeights(Exception):
    """A manual change met a running rollout (checked inside the write's transaction)."""


class WeightStore:
    def __init__(self, database: Database) -> None:
        self._db = database

    def current(self) -> StoredWeights | None:
        row = self._db.fetchone("SELECT weights, version, changed_at FROM ab_weights WHERE id = 1")
        if row is None:
            return None
        return StoredWeights(json.loads(row[0]), int(row[1]), float(row[2]))

    def change(
        self,
        default: dict[str, float],
        new: dict[str, float],
        actor: str,
        now: float,
        unless_rollout: bool = False,
    ) -> tuple[dict[str, float], StoredWeights]:
        """Persist the new split and its audit record in one transaction.

        The audit's "old" split is the stored one, read inside the same transaction (``default``
        only while nothing is stored): never a replica's view, which may lag behind.
        Returns (old, the new split with its version).
        """

        def write(cursor: Cursor) -> tuple[dict[str, float], int]:
            # Lock the split first: a rollout starting meanwhile commits before this reads.
            cursor.execute("UPDATE ab_weights SET version = version WHERE id = 1")
            if unless_rollout and cursor.fetchone(
                "SELECT id FROM rollouts WHERE state = 'running'"
            ):
                raise RolloutControlsWeights("a rollout controls the split")
            return write_weights(cursor, default, new, actor, now)

        old, version = self._db.transaction(write)
        return old, StoredWeights(dict(new), version, now)

    def history(self, limit: int) -> list[WeightChange]:
        rows = self._db.fetchall(
            "SELECT id, changed_at, actor, old_weights, new_weights FROM weight_changes"
            " ORDER BY id DESC LIMIT ?",
            (limit,),
        )
        return [
            WeightChange(int(r[0]), float(r[1]), r[2], json.loads(r[3]), json.loads(r[4]))
            for r in rows
        ]


def write_weights(
    cursor: Cursor, default: dict[str, float], new: dict[str, float], actor: str, now: float
) -> tuple[dict[str, float], int]:
    """Inside a transaction: store ``new`` with the next version and its audit record.

    Returns (the split it replaced, the new version). Rollout transitions call it in their own
    transaction, so the weights and the rollout's state change together or not at all.
    """
    # Lock the row before reading it (a no-op UPDATE; PostgreSQL would otherwise let two writers
    # read the same "old" split), so the audit's old value is the one actually replaced.
    cursor.execute("UPDATE ab_weights SET version = version WHERE id = 1")
    current = cursor.fetchone("SELECT weights FROM ab_weights WHERE id = 1")
    old = json.loads(current[0]) if current is not None else dict(default)
    row = cursor.fetchone(
        "INSERT INTO ab_weights (id, weights, changed_at, version) VALUES (1, ?, ?, 1)"
        " ON CONFLICT (id) DO UPDATE SET weights = excluded.weights,"
        " changed_at = excluded.changed_at, version = ab_weights.version + 1"
        " RETURNING version",
        (json.dumps(new), now),
    )
    cursor.execute(
        "INSERT INTO weight_changes (changed_at, actor, old_weights, new_weights)"
        " VALUES (?, ?, ?, ?)",
        (now, actor, json.dumps(old), json.dumps(new)),
    )
    assert row is not None
    return old, int(row[0])
