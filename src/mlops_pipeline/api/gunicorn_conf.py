"""gunicorn hooks: keep multiprocess metrics correct when workers exit."""

from __future__ import annotations

from typing import Any


def child_exit(server: Any, worker: Any) -> None:
    # Gauges of a dead worker must stop counting as live values.
    from prometheus_client import multiprocess

    multiprocess.mark_process_dead(worker.pid)  # type: ignore[no-untyped-call]
