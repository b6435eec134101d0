"""A closed HTTP worker leaves nothing behind: no thread of its own, no database connection.

The worker is built as the WSGI entry builds it (``build_worker``, periodic syncs started), with
a shadow scorer and the inference time budget on, so every long-lived part has started.
"""

from __future__ import annotations

import threading
import time
from pathlib import Path

import psycopg
import pytest
from pydantic import SecretStr

from mlops_pipeline.config import Settings, database_url
from mlops_pipeline.processes import build_worker
from mlops_pipeline.storage.schema import upgrade
from tests.support.helpers import ADMIN_TOKEN, FEEDBACK_TOKEN, SETOSA_ROW


@pytest.fixture(params=["sqlite", "postgresql"])
def worker_settings(
    request: pytest.FixtureRequest, artifacts_dir: Path, tmp_path: Path
) -> Settings:
    url = None
    if request.param == "postgresql":
        url = SecretStr(str(request.getfixturevalue("postgres_database")))
    settings = Settings(
        artifacts_dir=artifacts_dir,
        db_path=tmp_path / "log.db",
        database_url=url,
        admin_token=ADMIN_TOKEN,
        feedback_token=FEEDBACK_TOKEN,
        shadow_version="v2",
        inference_timeout_ms=1_000,
    )
    upgrade(database_url(settings))
    return settings


def connections_to(url: str) -> int:
    """Backends on the server connected to ``url``'s database, other than this query's own."""
    server, name = url.rsplit("/", 1)
    with psycopg.connect(f"{server}/postgres", autocommit=True) as connection:
        row = connection.execute(
            "SELECT count(*) FROM pg_stat_activity WHERE datname = %s AND pid <> pg_backend_pid()",
            (name,),
        ).fetchone()
    assert row is not None
    return int(row[0])


def settled(check: object, timeout: float = 5.0) -> bool:
    """Whether ``check()`` turns true within ``timeout`` (a server notices a closed socket late)."""
    deadline = time.monotonic() + timeout
    while not check():  # type: ignore[operator]
        if time.monotonic() > deadline:
            return False
        time.sleep(0.05)
    return True


def test_a_closed_worker_leaves_no_thread_and_no_connection(worker_settings: Settings) -> None:
    baseline = set(threading.enumerate())
    worker = build_worker(worker_settings)
    client = worker.app.test_client()  # type: ignore[attr-defined]
    assert client.post("/predict", json={"features": SETOSA_ROW}).status_code == 200
    assert client.get("/ready").status_code == 200
    assert worker.components.service.shadow is not None
    worker.components.service.shadow.drain()
    started = set(threading.enumerate()) - baseline
    names = {thread.name for thread in started}
    assert {"refresher", "shadow", "inference-budget"} <= names
    url = database_url(worker_settings)
    if url.startswith("postgresql"):
        assert connections_to(url) > 0

    worker.close()

    assert settled(lambda: set(threading.enumerate()) <= baseline), [
        thread.name for thread in set(threading.enumerate()) - baseline
    ]
    if url.startswith("postgresql"):
        assert settled(lambda: connections_to(url) == 0)
    worker.close()  # a second close (atexit after the server's hook) is harmless
