"""Model versions added at run time, and retirements. Owner of the table ``model_versions``.

The ONNX bytes live in the database, so every replica on every host loads the same bytes
without a shared volume; each replica checks them against the stored SHA-256 before serving.
"""

from __future__ import annotations

import json

from mlops_pipeline.storage.database import Cursor, Database, Row
from mlops_pipeline.storage.records import RegisteredModel
from mlops_pipeline.storage.weights import lock_split

ACTIVE, RETIRED = "active", "retired"
COLUMNS = "version, status, sha256, metadata, registered_at, changed_at, actor"


class VersionInUse(ValueError):
    """The stored split or the running rollout still needs the version (checked inside the
    retirement's transaction, under the split's lock)."""


class ModelStore:
    def __init__(self, database: Database) -> None:
        self._db = database

    def register(
        self,
        version: str,
        onnx: bytes,
        sha256: str,
        metadata: dict[str, object],
        actor: str,
        now: float,
        reference: dict[str, object] | None = None,
    ) -> None:
        """Add ``version``; raises DuplicateKey when the name was ever registered or retired.

        ``reference``: the training statistics drift is measured against while it is champion.
        """
        self._db.execute(
            "INSERT INTO model_versions (version, status, onnx, sha256, metadata, registered_at,"
            " changed_at, actor, reference) VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?)",
            (
                version, ACTIVE, onnx, sha256, json.dumps(metadata), now, now, actor,
                None if reference is None else json.dumps(reference),
            ),
        )  # fmt: skip

    def retire(self, version: str, actor: str, now: float) -> None:
        """Mark ``version`` retired; a trained (not registered) version gets a row saying so.

        Raises VersionInUse when the stored split gives it traffic or the running rollout
        compares it or restores traffic to it: read under the split's lock, so a weight change
        racing the retirement either comes first (and this refuses) or sees it retired.
        """

        def write(cursor: Cursor) -> None:
            lock_split(cursor, self._db.dialect)
            _refuse_in_use(cursor, version)
            updated = cursor.execute(
                "UPDATE model_versions SET status = ?, changed_at = ?, actor = ? WHERE version = ?",
                (RETIRED, now, actor, version),
            )
            if not updated:
                cursor.execute(
                    "INSERT INTO model_versions (version, status, onnx, sha256, metadata,"
                    " registered_at, changed_at, actor) VALUES (?, ?, NULL, NULL, '{}', ?, ?, ?)",
                    (version, RETIRED, now, now, actor),
                )

        self._db.transaction(write)

    def catalog(self) -> list[RegisteredModel]:
        """Every row, without the ONNX bytes: what replicas poll (a few short rows)."""
        rows = self._db.fetchall(f"SELECT {COLUMNS} FROM model_versions ORDER BY registered_at")
        return [_record(row) for row in rows]

    def reference(self, version: str) -> dict[str, object] | None:
        """The drift reference stored with ``version``, or None (none stored, or not active)."""
        row = self._db.fetchone(
            "SELECT reference FROM model_versions WHERE version = ? AND status = ?",
            (version, ACTIVE),
        )
        if row is None or row[0] is None:
            return None
        stored: dict[str, object] = json.loads(str(row[0]))
        return stored

    def onnx(self, version: str) -> bytes | None:
        row = self._db.fetchone(
            "SELECT onnx FROM model_versions WHERE version = ? AND status = ?", (version, ACTIVE)
        )
        return None if row is None or row[0] is None else bytes(row[0])


def _refuse_in_use(cursor: Cursor, version: str) -> None:
    stored = cursor.fetchone("SELECT weights FROM ab_weights WHERE id = 1")
    share = float(json.loads(stored[0]).get(version, 0.0)) if stored is not None else 0.0
    if share > 0:
        raise VersionInUse(
            f"refusing to retire {version}: it has {share:.0%} of the traffic; move it to"
            " another version first (PUT /config/weights or a rollout)"
        )
    rollout = cursor.fetchone(
        "SELECT id, candidate, baseline, weights_before FROM rollouts WHERE state = 'running'"
    )
    if rollout is not None and (
        version in (rollout[1], rollout[2]) or json.loads(rollout[3]).get(version, 0.0) > 0
    ):
        raise VersionInUse(
            f"refusing to retire {version}: rollout {rollout[0]} compares it or restores"
            " traffic to it when it ends"
        )


def _record(row: Row) -> RegisteredModel:
    return RegisteredModel(
        version=str(row[0]),
        status=str(row[1]),
        sha256=None if row[2] is None else str(row[2]),
        metadata=json.loads(str(row[3])),
        registered_at=float(row[4]),
        changed_at=float(row[5]),
        actor=str(row[6]),
    )
