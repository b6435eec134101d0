"""Leader election and report writing of `mlops monitor`, on both backends."""

from __future__ import annotations

import json
import multiprocessing
import time
from collections.abc import Iterator

import pytest

from mlops_pipeline.monitoring.leader import LeaderElection, Monitor, Task
from mlops_pipeline.storage import Storage, open_storage


@pytest.fixture
def url(upgraded_database_url: str) -> str:
    return upgraded_database_url


@pytest.fixture
def storages(url: str) -> Iterator[tuple[Storage, Storage]]:
    first, second = open_storage(url), open_storage(url)
    yield first, second
    first.close()
    second.close()


def monitor(storage: Storage, name: str, counter: list[str]) -> Monitor:
    def drift() -> dict[str, object]:
        counter.append(name)
        return {"score": 0.1, "by": name}

    return Monitor(
        LeaderElection(storage.database.lock("monitor")),
        storage.reports,
        [Task("drift", 0.0, drift, report="drift")],
        identity=name,
    )


def test_exactly_one_monitor_leads_and_a_standby_takes_over(
    storages: tuple[Storage, Storage],
) -> None:
    calls: list[str] = []
    a, b = (monitor(storage, name, calls) for storage, name in zip(storages, "ab", strict=True))
    assert (a.step(), b.step()) == (True, False)
    assert (a.step(), b.step()) == (True, False)
    assert calls == ["a", "a"]
    report = storages[1].reports.load("drift")  # every replica reads the leader's report
    assert report is not None
    assert (json.loads(report.body)["by"], report.written_by) == ("a", "a")
    a._election.resign()  # the leader stops (or dies: its lock goes with its session)
    assert b.step() is True
    assert a.step() is False
    assert calls[-1] == "b"


def test_a_failing_task_is_counted_and_does_not_stop_the_others(
    storages: tuple[Storage, Storage],
) -> None:
    done: list[int] = []

    def broken() -> None:
        raise RuntimeError("boom")

    subject = Monitor(
        LeaderElection(storages[0].database.lock("monitor")),
        storages[0].reports,
        [Task("broken", 0.0, broken), Task("fine", 0.0, lambda: done.append(1))],
    )
    subject.step()
    subject.step()
    assert (subject.failures, len(done)) == (2, 2)


def _hold_lock(url: str, ready: multiprocessing.synchronize.Event) -> None:  # type: ignore[name-defined]
    storage = open_storage(url)
    lock = storage.database.lock("monitor")  # held as long as this object lives
    assert lock.try_acquire()
    ready.set()
    time.sleep(60)  # killed long before


def test_a_killed_leader_frees_the_lock(url: str) -> None:
    context = multiprocessing.get_context("spawn")
    ready = context.Event()
    holder = context.Process(target=_hold_lock, args=(url, ready))
    holder.start()
    assert ready.wait(30)
    standby = open_storage(url)
    lock = standby.database.lock("monitor")
    assert lock.try_acquire() is False
    holder.kill()
    holder.join()
    deadline = time.monotonic() + 10
    while not lock.try_acquire():
        assert time.monotonic() < deadline, "the dead leader's lock was never released"
        time.sleep(0.05)
    lock.release()
    standby.close()
