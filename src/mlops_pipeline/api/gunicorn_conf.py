"""gunicorn hooks (MLOPS_SERVER=gunicorn): keep multiprocess metrics correct, close workers.

The WSGI entry freezes the loaded app for the garbage collector under either server.
"""

from __future__ import annotations

import sys
from typing import Any


def worker_exit(server: Any, worker: Any) -> None:
    # In the exiting worker: stop its threads and close its connections (wsgi.py also registers
    # this at exit; closing twice is harmless). Not loaded means the app never started.
    entry = sys.modules.get("mlops_pipeline.wsgi")
    if entry is not None:
        entry.worker.close()


def child_exit(server: Any, worker: Any) -> None:
    # Gauges of a dead worker must stop counting as live values.
    from prometheus_client import multiprocess

    multiprocess.mark_process_dead(worker.pid)  # type: ignore[no-untyped-call]
