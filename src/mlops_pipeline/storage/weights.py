"""The traffic split set at run time, with a version number, and its audit trail.

Owner of the tables ``ab_weights`` (one row) and ``weight_changes``. Every change increments the
version in the same transaction as its audit record; replicas adopt a higher version, so no
replica's clock decides which split is newest.

Every transaction that reads the split, the rollouts or the catalogue to decide a write of the
split (a manual change, a rollout's start or transition, a retirement) takes ``lock_split``
first, so those decisions are made one at a time against committed state.
"""

from __future__ import annotations

import hashlib
import json

from mlops_pipeline.storage.database import Cursor, Database
from mlops_pipeline.storage.records import StoredWeights, WeightChange

# A transaction-scoped PostgreSQL advisory lock: unlike a row lock it exists before the first
# split is stored (a no-op UPDATE of an empty ab_weights locks nothing), and it is released
# with the transaction.
SPLIT_LOCK = int.from_bytes(hashlib.sha256(b"mlops:split").digest()[:8], "big", signed=True)


class RolloutControlsWeights(Exception):
    """A manual change met a running rollout (checked inside the write's transaction)."""


class VersionRetired(ValueError):
    """The split gives traffic to a retired version (checked inside the write's transaction)."""


def lock_split(cursor: Cursor, dialect: str) -> None:
    """Serialize the split's writers until this transaction ends.

    SQLite needs nothing: its transactions begin IMMEDIATE, holding the database's one write lock.
    """
    if dialect == "postgresql":
        cursor.fetchone("SELECT pg_advisory_xact_lock(?)", (SPLIT_LOCK,))


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
        Returns (old, the new split with its version). Raises VersionRetired when ``new`` gives
        traffic to a retired version, RolloutControlsWeights (with ``unless_rollout``) while a
        rollout runs.
        """

        def write(cursor: Cursor) -> tuple[dict[str, float], int]:
            # Lock the split first: a rollout starting meanwhile commits before this reads.
            lock_split(cursor, self._db.dialect)
            if unless_rollout and cursor.fetchone(
                "SELECT id FROM rollouts WHERE state = 'running'"
            ):
                raise RolloutControlsWeights("a rollout controls the split")
            return write_weights(cursor, self._db.dialect, default, new, actor, now)

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
    cursor: Cursor,
    dialect: str,
    default: dict[str, float],
    new: dict[str, float],
    actor: str,
    now: float,
) -> tuple[dict[str, float], int]:
    """Inside a transaction: store ``new`` with the next version and its audit record.

    Returns (the split it replaced, the new version). Rollout transitions call it in their own
    transaction, so the weights and the rollout's state change together or not at all. Raises
    VersionRetired when ``new`` gives traffic to a version the catalogue says is retired: a
    replica that has not polled the catalogue yet still serves it, and would accept it.
    """
    # Lock before reading (PostgreSQL would otherwise let two writers read the same "old"
    # split), so the audit's old value is the one actually replaced. Re-entrant.
    lock_split(cursor, dialect)
    retired = {
        str(row[0])
        for row in cursor.fetchall("SELECT version FROM model_versions WHERE status = 'retired'")
    }
    named = sorted(version for version, weight in new.items() if weight > 0 and version in retired)
    if named:
        raise VersionRetired(f"{', '.join(named)} retired: a split cannot give it traffic")
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
