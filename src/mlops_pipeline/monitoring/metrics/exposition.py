"""Multiprocess exposition: under gunicorn or granian, workers write metric files that
``/metrics`` collects (``PROMETHEUS_MULTIPROC_DIR`` is set and wiped by the start script).
"""

from __future__ import annotations

import os

from prometheus_client import CollectorRegistry
from prometheus_client.multiprocess import MultiProcessCollector


def multiprocess_enabled() -> bool:
    return bool(os.environ.get("PROMETHEUS_MULTIPROC_DIR"))


def exposition_registry() -> CollectorRegistry:
    """The registry ``/metrics`` renders when several worker processes share metric files."""
    registry = CollectorRegistry()
    MultiProcessCollector(registry)  # type: ignore[no-untyped-call]
    return registry
