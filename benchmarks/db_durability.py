"""Prediction-log insert cost per backend and durability setting. Prints numbers; asserts nothing.

One process appends single-row predictions (the /predict path's write) for --seconds to: SQLite
(WAL, synchronous=NORMAL), PostgreSQL with synchronous_commit=off (MLOPS_DB_DURABLE_COMMIT=false)
and =on (the default); then 8 processes at once, and 8 threads of one process (where durable
appends share commits), against each PostgreSQL setting. Needs root and Debian's `postgresql`
(a throwaway cluster is started on a free port).

Run: .venv/bin/python -m benchmarks.db_durability [--seconds 5]
"""

from __future__ import annotations

import argparse
import concurrent.futures
import multiprocessing
import statistics
import tempfile
import time
import uuid
from pathlib import Path

import numpy as np

HERE = Path(__file__).resolve().parent
from tests.support.postgres import running_postgres, unavailable_reason  # noqa: E402

from mlops_pipeline.storage import open_storage  # noqa: E402
from mlops_pipeline.storage.records import PredictionBatch  # noqa: E402
from mlops_pipeline.storage.schema import upgrade  # noqa: E402

ROW = np.array([[5.1, 3.5, 1.4, 0.2]])
PROBABILITIES = np.array([[1.0, 0.0, 0.0]])
CLASSES = np.array([0], dtype=np.int64)


def append_for(url: str, durable: bool, seconds: float) -> list[float]:
    storage = open_storage(url, log_durable=durable)
    times = []
    deadline = time.monotonic() + seconds
    while time.monotonic() < deadline:
        batch = PredictionBatch(
            uuid.uuid4().hex, time.time(), "v1", None, ROW, CLASSES, PROBABILITIES, 0.1
        )
        started = time.perf_counter()
        storage.predictions.append(batch)
        times.append(time.perf_counter() - started)
    storage.close()
    return times


def _worker(args: tuple[str, bool, float]) -> int:
    return len(append_for(*args))


def threaded(url: str, durable: bool, seconds: float, threads: int) -> int:
    """``threads`` appending at once through one process's storage: what one granian worker
    with that many threads does (durable appends share commits there, storage/group_commit.py)."""
    storage = open_storage(url, log_durable=durable, pool_size=threads + 1)
    deadline = time.monotonic() + seconds

    def run() -> int:
        done = 0
        while time.monotonic() < deadline:
            storage.predictions.append(
                PredictionBatch(
                    uuid.uuid4().hex, time.time(), "v1", None, ROW, CLASSES, PROBABILITIES, 0.1
                )
            )
            done += 1
        return done

    with concurrent.futures.ThreadPoolExecutor(threads) as pool:
        total = sum(pool.map(lambda _: run(), range(threads)))
    storage.close()
    return total


def report(name: str, url: str, durable: bool, seconds: float) -> None:
    times = append_for(url, durable, seconds)
    print(
        f"  {name:34s} 1 writer: {len(times) / seconds:7.0f} commits/s"
        f"   p50 {statistics.median(times) * 1e3:6.3f} ms"
        f"   p99 {float(np.percentile(times, 99)) * 1e3:6.3f} ms"
    )
    if url.startswith("postgresql"):
        with multiprocessing.get_context("spawn").Pool(8) as pool:
            counts = pool.map(_worker, [(url, durable, seconds)] * 8)
        print(f"  {'':34s} 8 writers: {sum(counts) / seconds:6.0f} commits/s")
        total = threaded(url, durable, seconds, 8)
        print(f"  {'':34s} 8 threads of 1 process: {total / seconds:6.0f} appends/s")


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--seconds", type=float, default=5.0)
    args = parser.parse_args()
    print(f"single-row prediction log appends, {args.seconds:g} s each:")
    with tempfile.TemporaryDirectory() as folder:
        url = f"sqlite:///{folder}/log.db"
        upgrade(url)
        report("SQLite (WAL, synchronous=NORMAL)", url, False, args.seconds)
    reason = unavailable_reason()
    if reason is not None:
        print(f"  PostgreSQL skipped: {reason}")
        return
    with running_postgres() as url:
        upgrade(url)
        report("PostgreSQL synchronous_commit=off", url, False, args.seconds)
        report("PostgreSQL synchronous_commit=on (default)", url, True, args.seconds)


if __name__ == "__main__":
    main()
