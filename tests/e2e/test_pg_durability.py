"""Durable prediction log on real PostgreSQL: concurrent appends share one commit, a duplicate in
a group fails only its own caller, and every answered prediction survives a server crash."""

from __future__ import annotations

import contextlib
import threading
import time
import uuid
from collections.abc import Iterator
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path

import numpy as np
import psycopg
import pytest
import requests

from mlops_pipeline.cli.launcher import granian_command
from mlops_pipeline.config import Settings
from mlops_pipeline.storage import DuplicateKey, Timeouts, open_storage
from mlops_pipeline.storage.postgres import PostgresDatabase
from mlops_pipeline.storage.predictions import INSERT, PredictionLog
from mlops_pipeline.storage.records import PredictionBatch
from mlops_pipeline.storage.schema import upgrade
from tests.support.postgres import postgres_or_skip, start_postgres, stop_postgres
from tests.support.servers import running_api

ROW = np.array([[5.1, 3.5, 1.4, 0.2]])


def batch(request_id: str | None = None) -> PredictionBatch:
    return PredictionBatch(
        request_id or uuid.uuid4().hex,
        time.time(),
        "v1",
        None,
        ROW,
        np.array([0], dtype=np.int64),
        np.array([[1.0, 0.0, 0.0]]),
        0.1,
    )


def commits(url: str) -> dict[str, str]:
    """request id -> the id of the transaction that wrote its row (xmin)."""
    with psycopg.connect(url) as connection:
        rows = connection.execute("SELECT request_id, xmin::text FROM predictions").fetchall()
    return dict(rows)


@pytest.fixture
def log_url(postgres_database: str) -> str:
    upgrade(postgres_database)
    return postgres_database


def test_concurrent_durable_appends_share_commits_and_all_land(log_url: str) -> None:
    storage = open_storage(log_url, pool_size=10)  # durable commits are the default
    assert isinstance(storage.database, PostgresDatabase)
    assert storage.database.log_durable
    ids = [uuid.uuid4().hex for _ in range(400)]
    try:
        with ThreadPoolExecutor(8) as pool:
            list(pool.map(lambda request_id: storage.predictions.append(batch(request_id)), ids))
    finally:
        storage.close()
    written = commits(log_url)
    assert sorted(written) == sorted(ids)
    # Rows appended while a commit was in flight went together in the next one.
    assert len(set(written.values())) < len(ids)


@contextlib.contextmanager
def inserts_held(url: str) -> Iterator[None]:
    """Another session locks the log: the next commit waits, so appends queue behind it."""
    with psycopg.connect(url) as locker:
        locker.execute("LOCK TABLE predictions IN EXCLUSIVE MODE")
        yield
        locker.rollback()


def appending(log: PredictionLog, request_id: str, outcomes: dict[str, str]) -> threading.Thread:
    def append() -> None:
        try:
            log.append(batch(request_id))
            outcomes[request_id] = "ok"
        except DuplicateKey:
            outcomes[request_id] = "duplicate"

    thread = threading.Thread(target=append)
    thread.start()
    return thread


def queue_behind_a_held_commit(
    url: str, first: str, queued: list[str]
) -> tuple[PostgresDatabase, dict[str, str]]:
    """``first`` commits while the log is locked; ``queued`` append meanwhile, then it is freed."""
    database = PostgresDatabase(url, timeouts=Timeouts(lock_seconds=30))
    log = PredictionLog(database)
    outcomes: dict[str, str] = {}
    group = database.group(INSERT)
    with inserts_held(url):
        threads = [appending(log, first, outcomes)]
        while not lock_waiters(url):
            time.sleep(0.005)
        threads += [appending(log, request_id, outcomes) for request_id in queued]
        while group.waiting < len(queued):
            time.sleep(0.005)
    for thread in threads:
        thread.join(10)
    return database, outcomes


def lock_waiters(url: str) -> int:
    with psycopg.connect(url) as connection:
        row = connection.execute(
            "SELECT COUNT(*) FROM pg_stat_activity WHERE wait_event_type = 'Lock'"
        ).fetchone()
    return int(row[0]) if row else 0


def test_a_duplicate_in_a_group_fails_only_its_own_caller(log_url: str) -> None:
    seed = PostgresDatabase(log_url)
    PredictionLog(seed).append(batch("existing"))
    seed.close()
    database, outcomes = queue_behind_a_held_commit(log_url, "first", ["a", "existing", "b"])
    database.close()
    assert outcomes == {"first": "ok", "a": "ok", "existing": "duplicate", "b": "ok"}
    assert set(commits(log_url)) == {"existing", "first", "a", "b"}


def test_rows_queued_behind_a_commit_share_the_next_one(log_url: str) -> None:
    queued = [f"r{index}" for index in range(5)]
    database, outcomes = queue_behind_a_held_commit(log_url, "lead", queued)
    database.close()
    assert set(outcomes.values()) == {"ok"}
    written = commits(log_url)
    assert sorted(written) == sorted(["lead", *queued])
    assert len({written[name] for name in queued}) == 1  # one statement, one commit
    assert written["lead"] != written["r0"]


@pytest.fixture(scope="module")
def crashable_postgres() -> Iterator[str]:
    """A server of this module's own: the test crashes it."""
    with postgres_or_skip() as url:
        yield url


def test_every_answered_prediction_survives_a_database_crash(
    crashable_postgres: str, artifacts_dir: Path, tmp_path: Path
) -> None:
    url = crashable_postgres
    answered: list[str] = []
    failed = 0
    stop = threading.Event()
    env = {"MLOPS_DATABASE_URL": url, "MLOPS_ACCESS_LOG": "false"}
    with running_api(artifacts_dir, tmp_path / "unused.db", workers=2, extra_env=env) as api:

        def burst() -> None:
            nonlocal failed
            with requests.Session() as http:
                while not stop.is_set():
                    try:
                        response = http.post(
                            api + "/predict", json={"features": ROW[0].tolist()}, timeout=10
                        )
                    except requests.RequestException:
                        failed += 1
                        continue
                    if response.status_code == 200:
                        answered.append(response.json()["request_id"])
                    else:
                        failed += 1

        threads = [threading.Thread(target=burst) for _ in range(8)]
        for thread in threads:
            thread.start()
        time.sleep(2.0)
        # A loaded machine may answer fewer in 2 s: the crash waits until the burst is big
        # enough to mean something.
        deadline = time.monotonic() + 30
        while len(answered) <= 100 and time.monotonic() < deadline:
            time.sleep(0.05)
        crashed_after = len(answered)
        stop_postgres(url, mode="immediate")  # a crash: no checkpoint, only the WAL on disk
        time.sleep(0.5)
        stop.set()
        for thread in threads:
            thread.join(15)
        start_postgres(url)
    assert crashed_after > 100, "the burst was too small to mean anything"
    logged = commits(url)
    missing = [request_id for request_id in answered if request_id not in logged]
    assert not missing, f"{len(missing)} of {len(answered)} answered predictions were lost"
    assert failed > 0  # requests during the outage were refused, not answered unlogged


def test_granian_workers_get_threads_to_share_commits_only_on_postgresql() -> None:
    def threads(**values: object) -> str:
        command = granian_command(Settings(**values))  # type: ignore[arg-type]
        return command[command.index("--blocking-threads") + 1]

    assert threads(database_url="postgresql://db.invalid/mlops") == "8"
    assert threads() == "1"  # SQLite: a commit waits for no flush, one thread is fastest
    assert threads(database_url="postgresql://db.invalid/mlops", threads=2) == "2"
