"""A process whose parent is gone stops, so a load balancer sees the replica down.

`mlops serve` runs granian (or gunicorn), which runs the Python workers. If the supervisor and the
server are killed outright (SIGKILL, an OOM kill), nothing would tell the workers: they would
stay bound to the port, answering `/health` and `/ready` with 200 for a replica nobody runs.
Two guards, one per level:

- the launcher's children get a parent-death signal (Linux ``PR_SET_PDEATHSIG``): the kernel
  sends SIGTERM the moment the supervisor dies, and the server stops its workers gracefully;
- every worker watches its own parent (a thread polling ``getppid``), because the kernel signal
  fires on the death of the *thread* that forked, which a server's respawn thread may not be.
"""

from __future__ import annotations

import ctypes
import os
import signal
import sys
import threading
import time
from collections.abc import Callable

PR_SET_PDEATHSIG = 1  # <linux/prctl.h>


def orphaned(parent_at_start: int, parent_now: int) -> bool:
    """Re-parented (to init or a subreaper): the process that started us has died."""
    return parent_now != parent_at_start


def die_with_parent() -> None:
    """For ``subprocess.Popen(preexec_fn=...)``: SIGTERM this child when its parent dies."""
    if not sys.platform.startswith("linux"):
        return
    parent = os.getppid()
    libc = ctypes.CDLL(None, use_errno=True)
    libc.prctl(PR_SET_PDEATHSIG, signal.SIGTERM, 0, 0, 0)
    if os.getppid() != parent:  # the parent died before the signal was armed
        os._exit(1)


def watch_parent(
    poll_seconds: float = 1.0,
    grace_seconds: float = 10.0,
    on_orphaned: Callable[[], None] | None = None,
) -> threading.Thread:
    """Start a daemon thread that stops this process once its parent is gone.

    It sends itself SIGTERM (the server's graceful stop: requests in flight finish and are
    logged), then exits hard after ``grace_seconds`` if that did not end the process.
    """
    parent = os.getppid()

    def stop_self() -> None:
        os.kill(os.getpid(), signal.SIGTERM)
        time.sleep(grace_seconds)
        os._exit(1)

    action = on_orphaned or stop_self

    def watch() -> None:
        while not orphaned(parent, os.getppid()):
            time.sleep(poll_seconds)
        print(
            f"parent process {parent} is gone: stopping worker {os.getpid()}",
            file=sys.stderr,
            flush=True,
        )
        action()

    thread = threading.Thread(target=watch, name="parent-watch", daemon=True)
    thread.start()
    return thread
