"""gunicorn hooks (MLOPS_SERVER=gunicorn): keep multiprocess metrics correct.

The WSGI entry freezes the loaded app for the garbage collector under either server.
"""

from __future__ import annotations

from typing import Any


def child_exit(server: Any, worker: Any) -> None:
    # Gauges of a dead worker must stop counting as live values.
    from prometheus_client import multiprocess

    multiprocess.mark_process_dead(worker.pid)  # type: ignore[no-untyped-call]
