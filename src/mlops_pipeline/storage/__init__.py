"""Every table has one owner here; nothing outside this package writes SQL or names a table.

``open_storage(url)`` picks the backend from the URL (``sqlite:///path`` or ``postgresql://...``)
and returns the stores the services depend on.
"""

from __future__ import annotations

from dataclasses import dataclass

from mlops_pipeline.storage.database import (
    Database,
    DuplicateKey,
    StoreUnavailable,
    Timeouts,
    redact,
)
from mlops_pipeline.storage.failures import FailureStore
from mlops_pipeline.storage.labels import LabelStore
from mlops_pipeline.storage.models import ModelStore
from mlops_pipeline.storage.predictions import PredictionLog
from mlops_pipeline.storage.reports import ReportStore
from mlops_pipeline.storage.retrains import RetrainStore
from mlops_pipeline.storage.rollouts import RolloutStore
from mlops_pipeline.storage.runtime import RuntimeSettings
from mlops_pipeline.storage.shadow import ShadowStore
from mlops_pipeline.storage.weights import WeightStore

__all__ = [
    "Database",
    "DuplicateKey",
    "Storage",
    "StoreUnavailable",
    "Timeouts",
    "open_storage",
    "redact",
]


def open_database(
    url: str, log_durable: bool = True, pool_size: int = 4, timeouts: Timeouts | None = None
) -> Database:
    """A backend for ``sqlite:///path`` or ``postgresql://...``; connects on first use."""
    if url.startswith("sqlite:///"):
        from mlops_pipeline.storage.sqlite import SQLiteDatabase

        return SQLiteDatabase(url)
    if url.startswith(("postgresql://", "postgres://")):
        from mlops_pipeline.storage.postgres import PostgresDatabase

        return PostgresDatabase(
            url, log_durable=log_durable, pool_size=pool_size, timeouts=timeouts or Timeouts()
        )
    raise ValueError(f"unsupported database URL {redact(url)!r}: use sqlite:/// or postgresql://")


@dataclass(frozen=True)
class Storage:
    database: Database
    predictions: PredictionLog
    labels: LabelStore
    weights: WeightStore
    shadow: ShadowStore
    reports: ReportStore
    models: ModelStore
    rollouts: RolloutStore
    failures: FailureStore
    runtime: RuntimeSettings
    retrains: RetrainStore

    def close(self) -> None:
        self.database.close()


def open_storage(
    url: str,
    log_durable: bool = True,
    check_schema: bool = True,
    timeouts: Timeouts | None = None,
    pool_size: int = 4,
) -> Storage:
    """The stores over one database; by default refuses a schema that is behind this release."""
    if check_schema:
        from mlops_pipeline.storage.schema import require_current

        require_current(url)
    database = open_database(url, log_durable=log_durable, pool_size=pool_size, timeouts=timeouts)
    return Storage(
        database,
        PredictionLog(database),
        LabelStore(database),
        WeightStore(database),
        ShadowStore(database),
        ReportStore(database),
        ModelStore(database),
        RolloutStore(database),
        FailureStore(database),
        RuntimeSettings(database),
        RetrainStore(database),
    )
