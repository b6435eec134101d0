"""A process whose parent is gone stops, so a load balancer sees the replica down.

`mlops serve` runs granian (or gunicorn), which runs the Python workers. If the supervisor and the
server are killed outright (SIGKILL, an OOM kill), nothing would tell the workers: they would
stay bound to the port, answering `/health` and `/ready` with 200 for a replica nobody runs.
The kernel's parent-death signal (Linux ``PR_SET_PDEATHSIG``) guards both levels:

- the launcher's children get SIGTERM the moment the supervisor dies, and the server stops its
  workers gracefully;
- every HTTP worker gets SIGKILL the moment its server dies. Not SIGTERM: a worker whose server
  had begun a graceful stop when it was killed was seen stuck in interpreter shutdown, where no
  Python code (a watcher thread included) runs any more. A server that stops normally ends its
  workers first, so this only fires when nobody is left to stop them.
"""

from __future__ import annotations

import ctypes
import functools
import os
import signal
import sys
from typing import Any

PR_SET_PDEATHSIG = 1  # <linux/prctl.h>


@functools.cache
def resolve_prctl() -> Any:
    """libc's prctl, resolved once: a ``preexec_fn`` runs between fork and exec, where loading
    a library (dlopen takes the loader's lock) could deadlock if another thread held it."""
    return ctypes.CDLL(None, use_errno=True).prctl


def die_with_parent(sig: int = signal.SIGTERM, parent: int | None = None) -> None:
    """Have the kernel send ``sig`` to this process when the thread that started it exits.

    ``parent``: the pid that started this process, when known; if it is already gone (killed
    while this process was starting, before the signal was armed), ``sig`` is sent at once.
    Also usable as ``subprocess.Popen(preexec_fn=...)``, which arms SIGTERM.
    """
    if not sys.platform.startswith("linux"):
        return
    expected = os.getppid() if parent is None else parent
    resolve_prctl()(PR_SET_PDEATHSIG, sig, 0, 0, 0)
    if os.getppid() != expected:
        os.kill(os.getpid(), sig)


def worker_parent() -> int:
    """The pid of the server that started this worker: multiprocessing records it at spawn
    (granian), so a server that died during the worker's start is still noticed; a plain fork
    (gunicorn, which also checks its parent itself) has the current parent."""
    import multiprocessing

    spawned_by = multiprocessing.parent_process()
    pid = spawned_by.pid if spawned_by is not None else None
    return pid if pid is not None else os.getppid()
