"""State that must agree with itself: the stored split, the catalogue, rollouts and retrain runs.

Races run for N rounds with threads started together on a barrier, on SQLite and on a real
PostgreSQL (tests/support/postgres.py); what each round leaves behind must be one consistent state.
"""

from __future__ import annotations

import functools
import logging
import random
import threading
import time
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any

import pytest
from flask.testing import FlaskClient
from prometheus_client import CollectorRegistry
from pydantic import SecretStr

from mlops_pipeline.api import create_app
from mlops_pipeline.bootstrap import Components, build_components
from mlops_pipeline.cli.main import main
from mlops_pipeline.config import Settings, database_url
from mlops_pipeline.monitoring.metrics import Metrics
from mlops_pipeline.processes import build_monitor
from mlops_pipeline.retraining.worker import RetrainWorker
from mlops_pipeline.rollout_plan import Plan
from mlops_pipeline.storage import Storage, open_storage
from mlops_pipeline.storage.models import VersionInUse
from mlops_pipeline.storage.retrains import RetrainBusy
from mlops_pipeline.storage.weights import RolloutControlsWeights
from tests.support.helpers import ADMIN, sample

ROUNDS = 40
DEFAULT = {"v1": 0.5, "v2": 0.5}
PLAN = {"candidate": "v2", "baseline": "v1", "steps": [0.3, 1.0], "min_labels_per_step": 20}


def together(*calls: Callable[[], Any]) -> list[Any]:
    """Run ``calls`` on threads released at once; their results (or the exception raised)."""
    barrier = threading.Barrier(len(calls))
    results: list[Any] = [None] * len(calls)

    def run(index: int, call: Callable[[], Any]) -> None:
        barrier.wait()
        try:
            results[index] = call()
        except Exception as exc:
            results[index] = exc

    threads = [threading.Thread(target=run, args=(i, c)) for i, c in enumerate(calls)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join(30)
    return results


@pytest.fixture
def both_settings(settings: Settings, upgraded_database_url: str) -> Settings:
    """``settings`` on SQLite and on a real PostgreSQL, at the current schema."""
    return settings.model_copy(update={"database_url": SecretStr(upgraded_database_url)})


@pytest.fixture
def both_components(both_settings: Settings, metrics: Metrics) -> Iterator[Components]:
    built = build_components(both_settings, metrics, rng=random.Random(7))
    yield built
    built.close()


@pytest.fixture
def both_client(
    both_settings: Settings, both_components: Components, registry: CollectorRegistry
) -> FlaskClient:
    return create_app(both_settings, both_components, registry).test_client()


# --- weights against the catalogue --------------------------------------------------------------


def test_weights_naming_a_retired_version_are_refused_though_a_replica_still_serves_it(
    cli_env: Settings, components: Components, v3_candidate: Path, client: FlaskClient
) -> None:
    assert main(["models", "register", str(v3_candidate), "--version", "v3"]) == 0
    assert components.model_sync is not None
    components.model_sync.sync()
    assert main(["models", "retire", "v3"]) == 0  # this replica has not polled the catalogue yet
    assert "v3" in components.service.versions
    split = {"v1": 0.4, "v2": 0.4, "v3": 0.2}
    refused = client.put("/config/weights", json=split, headers=ADMIN)
    assert (refused.status_code, refused.get_json()["code"]) == (400, "unknown_version")
    assert "retired" in refused.get_json()["error"]
    assert client.get("/config").get_json()["weights"] == DEFAULT
    assert components.storage is not None
    assert components.storage.weights.current() is None  # nothing stored
    components.model_sync.sync()
    assert components.service.versions == ["v1", "v2"]


def test_a_version_with_traffic_cannot_be_retired_in_the_same_moment(storage: Storage) -> None:
    """The retire's check and its write are one transaction under the split's lock."""
    storage.models.register("v3", b"onnx", "ab" * 32, {}, "alice", 1.0)
    storage.weights.change(DEFAULT, {"v1": 0.5, "v3": 0.5}, "alice", 2.0)
    with pytest.raises(VersionInUse, match="50%"):
        storage.models.retire("v3", "bob", 3.0)
    assert [m.status for m in storage.models.catalog()] == ["active"]


def test_retire_and_a_weight_change_never_both_win(storage: Storage) -> None:
    """Racing: either the version is retired with no traffic, or it has traffic and is active."""
    for round_ in range(ROUNDS):
        version = f"r{round_}"
        storage.models.register(version, b"onnx", "ab" * 32, {}, "alice", 1.0)
        split = {"v1": 0.8, version: 0.2}
        together(
            functools.partial(storage.models.retire, version, "bob", 2.0),
            functools.partial(storage.weights.change, DEFAULT, split, "alice", 2.0),
        )
        status = {m.version: m.status for m in storage.models.catalog()}[version]
        stored = storage.weights.current()  # None: the retirement came first, nothing stored
        share = 0.0 if stored is None else stored.weights.get(version, 0.0)
        assert (status, share) in {("retired", 0.0), ("active", 0.2)}, round_
        storage.weights.change(DEFAULT, DEFAULT, "reset", 3.0)


# --- a replica serving a split other than the stored one ----------------------------------------


def test_a_replica_that_cannot_serve_the_stored_split_says_so(
    settings: Settings, caplog: pytest.LogCaptureFixture
) -> None:
    """The stored split names a version whose bytes fail to load here: the replica keeps its
    split, and logs and exports the disagreement until the stored split is one it can serve."""
    from mlops_pipeline.storage.schema import upgrade

    url = database_url(settings)
    upgrade(url)
    storage = open_storage(url)
    storage.models.register("g2", b"garbage", "00" * 32, {}, "mallory", 1.0)
    storage.weights.change(DEFAULT, {"v1": 0.4, "v2": 0.4, "g2": 0.2}, "alice", 2.0)
    registry = CollectorRegistry()
    caplog.set_level(logging.ERROR)
    components = build_components(settings, Metrics(registry), rng=random.Random(1))
    try:
        assert components.experiment is not None
        assert components.service.config()["weights"] == DEFAULT
        assert sample(registry, "mlops_weights_disagreement") == 1
        assert "serves a split other than the stored one" in caplog.text
        assert "g2" in caplog.text
        caplog.clear()
        components.experiment.sync_weights()
        assert caplog.text == ""  # logged once per stored split, not every second
        storage.weights.change(DEFAULT, {"v1": 0.3, "v2": 0.7}, "alice", 3.0)
        components.experiment.sync_weights()
        assert components.service.config()["weights"] == {"v1": 0.3, "v2": 0.7}
        assert sample(registry, "mlops_weights_disagreement") == 0
    finally:
        components.close()
        storage.close()


# --- rollout start against a weight change, on an empty table ------------------------------------


def _empty(storage: Storage) -> None:
    for table in ("rollout_events", "rollouts", "weight_changes", "ab_weights"):
        storage.database.execute(f"DELETE FROM {table}")


def test_a_rollout_start_and_a_weight_change_serialize_on_an_empty_table(
    storage: Storage,
) -> None:
    """Whichever wins, a running rollout's split is the stored one (never the PUT's)."""
    first = {"v2": 0.3, "v1": 0.7}
    put = {"v1": 0.9, "v2": 0.1}
    plan = Plan("v2", "v1", steps=(0.3, 1.0))
    for round_ in range(ROUNDS):
        _empty(storage)
        start, change = together(
            lambda: storage.rollouts.start(
                "v2", "v1", plan, first, DEFAULT, "started", "alice", 1.0, 0
            ),
            lambda: storage.weights.change(DEFAULT, put, "bob", 1.0, unless_rollout=True),
        )
        assert not isinstance(start, Exception), start
        assert change is None or isinstance(change, tuple | RolloutControlsWeights), change
        rollout = storage.rollouts.current()
        stored = storage.weights.current()
        assert rollout is not None
        assert stored is not None
        assert (stored.weights, stored.version) == (first, rollout.step_weights_version), round_


# --- PUT ?abort_rollout=true against the rollout's end -------------------------------------------


def test_weights_with_abort_rollout_apply_whether_or_not_the_rollout_just_ended(
    both_client: FlaskClient, both_components: Components
) -> None:
    client = both_client
    assert both_components.rollouts is not None
    assert both_components.storage is not None
    rollouts, storage = both_components.rollouts, both_components.storage
    put = {"v1": 0.6, "v2": 0.4}
    for round_ in range(ROUNDS):
        rollout = rollouts.start(PLAN, "alice")

        def end(rollout: Any = rollout) -> bool:
            return storage.rollouts.transition(
                rollout, "promote", "promoted", 1, {"v2": 1.0}, "promoted", 1.0
            )

        def change() -> Any:
            return client.put("/config/weights?abort_rollout=true", json=put, headers=ADMIN)

        _ended, answer = together(end, change)
        assert answer.status_code == 200, (round_, answer.get_json())
        stored = storage.weights.current()
        assert stored is not None
        assert stored.weights == put, round_
        assert storage.rollouts.current() is None


# --- a retrain whose monitor died ---------------------------------------------------------------


class _Blocking:
    """A retrainer that never finishes on its own: the monitor running it "dies" mid-way."""

    def __init__(self) -> None:
        self.release = threading.Event()

    def execute(self, run: Any) -> Any:
        self.release.wait(30)
        raise RuntimeError("the process is gone")


def test_a_new_leader_reclaims_a_retrain_whose_monitor_is_gone(
    both_settings: Settings, both_components: Components
) -> None:
    settings = both_settings
    assert both_components.storage is not None
    runs = both_components.storage.retrains
    now = time.time()  # monitor-b runs on the real clock: nothing here is old enough to expire
    queued = runs.open("api", "alice", None, False, None, now)
    dead = _Blocking()
    old = RetrainWorker(runs, dead, clock=lambda: now + 1, holder="monitor-a")  # type: ignore[arg-type]
    old.tick()
    claimed = runs.get(queued.id)
    assert claimed is not None
    assert claimed.status == "running"
    with pytest.raises(RetrainBusy):  # the slot is held while its monitor lives
        runs.open("api", "alice", None, False, None, now + 2)
    # monitor-a is killed (it never records the end); monitor-b becomes leader a minute later,
    # long before the 30-minute expiry.
    process = build_monitor(settings, identity="monitor-b")
    try:
        assert process.monitor.step()
        reclaimed = runs.get(queued.id)
        assert reclaimed is not None
        assert reclaimed.status == "failed"
        assert "holder gone" in reclaimed.message
        assert "monitor-a" in reclaimed.message
        again = runs.open("api", "alice", None, False, None, time.time())
        assert again.status == "queued"
        runs.finish(again.id, "failed", "test", time.time())
        # A run `mlops retrain` records itself has no monitor holder: only its expiry frees it.
        cli = runs.open("cli", "bob", None, False, None, time.time(), running=True)
        assert process.monitor.step()
        found = runs.get(cli.id)
        assert found is not None
        assert found.status == "running"
    finally:
        stopped = threading.Event()
        stopped.set()
        process.monitor.run(stopped, 0)  # closes its tasks and gives up the lock
        process.components.close()
        dead.release.set()
        old.join(5)


def test_a_reclaimed_run_keeps_its_end_and_registers_nothing(
    both_components: Components,
) -> None:
    """The monitor that lost leadership is alive and finishes late: its run stays failed."""
    assert both_components.storage is not None
    runs = both_components.storage.retrains
    now = time.time()
    run = runs.open("api", "alice", None, False, None, now)
    claimed = runs.claim(now, "monitor-a")
    assert claimed is not None
    assert runs.is_running(run.id)
    assert runs.reclaim("monitor-b", now + 1) == [(run.id, "monitor-a")]
    assert not runs.is_running(run.id)
    runs.finish(run.id, "registered", "late success", now + 2, "v9")
    ended = runs.get(run.id)
    assert ended is not None
    assert (ended.status, ended.version) == ("failed", None)
    assert "holder gone" in ended.message
