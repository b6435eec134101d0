"""Prediction batches for the storage tests, and a writer for a process of its own.

Light on purpose: a spawned writer process imports this module (numpy and the storage package),
not the test module with its migrations and fixtures.
"""

from __future__ import annotations

import time

import numpy as np

from mlops_pipeline.storage import open_storage
from mlops_pipeline.storage.records import PredictionBatch


def batch(request_id: str, rows: int = 1, version: str = "v1", at: float = 1_000.0, **kw):  # type: ignore[no-untyped-def]
    features = np.arange(rows * 4, dtype=np.float64).reshape(rows, 4)
    return PredictionBatch(
        request_id=request_id,
        created_at=at,
        model_version=version,
        user_id=kw.pop("user_id", None),
        features=features,
        predictions=np.arange(rows, dtype=np.int64) % 3,
        probabilities=np.tile([0.5, 0.25, 0.25], (rows, 1)),
        latency_ms=kw.pop("latency_ms", 0.5),
        **kw,
    )


def append_many(url: str, prefix: str, count: int) -> None:
    """``count`` one-row batches ``{prefix}0``... appended to the log at ``url``, one by one."""
    storage = open_storage(url)
    for index in range(count):
        storage.predictions.append(batch(f"{prefix}{index}", at=time.time()))
    storage.close()
