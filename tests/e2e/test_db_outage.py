"""A PostgreSQL outage under `mlops serve`: liveness stays fast, readiness follows the database,
requests that need it get their 503 within seconds, and everything recovers after a restart."""

from __future__ import annotations

import threading
import time
from collections.abc import Iterator
from pathlib import Path

import pytest
import requests

from mlops_pipeline.storage import StoreUnavailable, Timeouts
from mlops_pipeline.storage.outage import Breaker
from mlops_pipeline.storage.postgres import PostgresDatabase
from mlops_pipeline.storage.readiness import DatabaseCheck
from tests.support.helpers import ADMIN
from tests.support.postgres import postgres_or_skip, start_postgres, stop_postgres
from tests.support.servers import running_api

BOUND = 3.0  # seconds: a request touching a dead database has its 503 by then
ROW = {"features": [5.1, 3.5, 1.4, 0.2]}


@pytest.fixture(scope="module")
def stoppable_postgres() -> Iterator[str]:
    """A server of this module's own: the tests stop it."""
    with postgres_or_skip() as url:
        yield url


def timed(call: object) -> tuple[requests.Response, float]:
    started = time.monotonic()
    response = call()  # type: ignore[operator]
    return response, time.monotonic() - started


def test_serving_through_a_database_outage(
    stoppable_postgres: str, artifacts_dir: Path, tmp_path: Path
) -> None:
    url = stoppable_postgres
    env = {"MLOPS_DATABASE_URL": url, "MLOPS_ACCESS_LOG": "false"}
    with running_api(artifacts_dir, tmp_path / "unused.db", workers=1, extra_env=env) as api:
        assert requests.post(api + "/predict", json=ROW, timeout=5).status_code == 200
        # Load on the worker during the outage, 20 requests a second, as in the report.
        stop_load = threading.Event()
        slowest: list[float] = []

        def load() -> None:
            with requests.Session() as http:
                while not stop_load.is_set():
                    _, seconds = timed(lambda: http.post(api + "/predict", json=ROW, timeout=30))
                    slowest.append(seconds)
                    time.sleep(0.05)

        loader = threading.Thread(target=load)
        loader.start()
        try:
            stop_postgres(url)
            weights = {"v1": 0.5, "v2": 0.5}
            for _ in range(10):
                health, seconds = timed(lambda: requests.get(api + "/health", timeout=15))
                assert health.status_code == 200
                assert seconds < 0.5, f"/health took {seconds:.2f} s"
                time.sleep(0.1)
            ready, seconds = timed(lambda: requests.get(api + "/ready", timeout=15))
            assert ready.status_code == 503, ready.text
            assert ready.json()["code"] == "not_ready"
            assert seconds < BOUND
            predicted, seconds = timed(
                lambda: requests.post(api + "/predict", json=ROW, timeout=15)
            )
            assert predicted.status_code == 503
            assert predicted.json()["code"] == "log_unavailable"
            assert "127.0.0.1" not in predicted.json()["error"]  # no host, port or role
            assert "port" not in predicted.json()["error"]
            assert seconds < BOUND
            changed, seconds = timed(
                lambda: requests.put(
                    api + "/config/weights", json=weights, headers=ADMIN, timeout=60
                )
            )
            assert changed.status_code == 503, changed.text
            assert changed.json()["code"] == "storage_unavailable"
            assert seconds < BOUND, f"PUT /config/weights took {seconds:.2f} s"
        finally:
            stop_load.set()
            loader.join(30)
            start_postgres(url)
        assert max(slowest) < BOUND, f"a /predict took {max(slowest):.2f} s during the outage"
        recovered = time.monotonic()
        while requests.get(api + "/ready", timeout=5).status_code != 200:
            assert time.monotonic() - recovered < 10, "not ready 10 s after the restart"
            time.sleep(0.1)
        assert requests.post(api + "/predict", json=ROW, timeout=5).status_code == 200
        changed = requests.put(api + "/config/weights", json=weights, headers=ADMIN, timeout=5)
        assert changed.status_code == 200, changed.text


def test_calls_fail_at_once_while_the_server_is_gone_and_recover_after(
    stoppable_postgres: str,
) -> None:
    database = PostgresDatabase(stoppable_postgres, timeouts=Timeouts(retry_seconds=0.2))
    check = DatabaseCheck(database, max_age_seconds=0.3)
    try:
        assert database.fetchone("SELECT 1") == (1,)
        assert check.answers()
        stop_postgres(stoppable_postgres)
        with pytest.raises(StoreUnavailable):
            database.fetchone("SELECT 1")  # finds the server gone
        started = time.monotonic()
        for _ in range(100):
            with pytest.raises(StoreUnavailable):
                database.fetchone("SELECT 1")
        assert time.monotonic() - started < 1.0  # no call waited for a connection
        time.sleep(0.3)
        assert not check.answers()
    finally:
        start_postgres(stoppable_postgres)
    time.sleep(0.3)  # the next probe is due
    assert database.fetchone("SELECT 1") == (1,)
    assert check.answers()
    database.close()


def test_one_killed_connection_is_not_an_outage(stoppable_postgres: str) -> None:
    """An administrator's pg_terminate_backend (or a proxy reaping an idle connection) breaks
    one pooled connection on a healthy server: the breaker stays closed, the next call works."""
    import psycopg

    database = PostgresDatabase(stoppable_postgres, timeouts=Timeouts(retry_seconds=5.0))
    try:
        pid = database.fetchone("SELECT pg_backend_pid()")
        assert pid is not None
        with psycopg.connect(stoppable_postgres, autocommit=True) as admin:
            admin.execute("SELECT pg_terminate_backend(%s)", (pid[0],))
        failed = 0
        started = time.monotonic()
        for _ in range(5):
            try:
                assert database.fetchone("SELECT 1") == (1,)
            except StoreUnavailable:  # the one call that meets the killed connection
                failed += 1
        assert failed <= 1
        assert time.monotonic() - started < 1.0  # nothing refused for retry_seconds (5 s)
    finally:
        database.close()


def test_the_breaker_admits_one_probe_per_interval() -> None:
    now = [0.0]
    breaker = Breaker(retry_seconds=1.0, clock=lambda: now[0])
    assert breaker.admit()
    breaker.failed("refused")
    assert not breaker.admit()
    now[0] = 1.0
    assert breaker.admit()  # the probe
    assert not breaker.admit()  # everyone else while it runs
    breaker.failed("still refused")
    now[0] = 1.5
    assert not breaker.admit()
    now[0] = 2.0
    assert breaker.admit()
    breaker.succeeded()
    assert breaker.admit()
    assert breaker.admit()
