"""Group commit as a concurrency primitive: nobody returns before the write holding its row."""

from __future__ import annotations

import threading
import time
from collections.abc import Sequence

import pytest

from mlops_pipeline.storage.database import Params, StoreUnavailable
from mlops_pipeline.storage.group_commit import GroupCommit


def test_no_caller_returns_before_its_own_row_is_written_even_past_one_group() -> None:
    written: set[object] = set()
    groups: list[int] = []
    lock = threading.Lock()

    def write_rows(rows: Sequence[Params]) -> None:
        time.sleep(0.01)  # a flush: long enough for many callers to queue behind it
        with lock:
            written.update(row[0] for row in rows)
            groups.append(len(rows))

    commits = GroupCommit(write_rows, max_group=2)
    early: list[int] = []

    def append(number: int) -> None:
        commits.append((number,))
        with lock:
            if number not in written:
                early.append(number)

    threads = [threading.Thread(target=append, args=(n,)) for n in range(24)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join(10)
    assert early == []
    assert written == set(range(24))
    assert max(groups) <= 2
    assert commits.waiting == 0


def test_an_interrupted_commit_tells_no_caller_its_row_is_stored() -> None:
    started = threading.Event()

    def write_rows(rows: Sequence[Params]) -> None:
        if rows[0][0] == "leader":
            started.set()
            time.sleep(0.05)
            raise KeyboardInterrupt
        raise AssertionError("only the leader's group is written")

    commits = GroupCommit(write_rows)
    with pytest.raises(KeyboardInterrupt):
        commits.append(("leader",))
    assert started.is_set()
    slot_error: list[BaseException] = []

    def failing(rows: Sequence[Params]) -> None:
        raise StoreUnavailable("down")

    other = GroupCommit(failing)
    try:
        other.append(("x",))
    except StoreUnavailable as exc:
        slot_error.append(exc)
    assert len(slot_error) == 1
