"""`mlops monitor`: the leader-elected drift, experiment and retention role, with its own
``/metrics`` and ``/health`` (and ``/alerts`` when the drift webhook is on).
"""

from __future__ import annotations

import argparse
import sys
from pathlib import Path
from typing import TYPE_CHECKING

from mlops_pipeline.cli.checks import verified
from mlops_pipeline.cli.common import settings_from
from mlops_pipeline.config import Settings

if TYPE_CHECKING:
    from mlops_pipeline.components import Components
    from mlops_pipeline.monitoring.leader import PostHandler


def add_parser(commands: argparse._SubParsersAction[argparse.ArgumentParser]) -> None:
    monitor = commands.add_parser(
        "monitor", help="drift, experiment report and retention for the deployment (one leads)"
    )
    monitor.add_argument("--artifacts", type=Path, help="artifacts folder (MLOPS_ARTIFACTS_DIR)")
    monitor.add_argument("--db", type=Path, help="SQLite file (MLOPS_DB_PATH)")
    monitor.add_argument("--host", help="interface for /metrics and /health (MLOPS_HOST)")
    monitor.add_argument(
        "--port", type=int, help="port for /metrics and /health (MLOPS_MONITOR_PORT)"
    )
    monitor.set_defaults(handler=run_monitor)


def run_monitor(args: argparse.Namespace) -> int:
    import os
    import signal
    import threading

    from mlops_pipeline.cli.launcher import reachable_host
    from mlops_pipeline.monitoring.leader import status_server
    from mlops_pipeline.processes import build_monitor
    from mlops_pipeline.telemetry.tracing import start_tracing, stop_tracing

    settings = verified(
        settings_from(
            args, artifacts="artifacts_dir", db="db_path", host="host", port="monitor_port"
        )
    )
    process = build_monitor(settings)
    monitor = process.monitor
    start_tracing("mlops-monitor", os.environ)
    server = status_server(
        settings.host,
        settings.monitor_port,
        process.registry,
        lambda: {"leader": monitor.leader, "identity": monitor.identity},
        post=drift_webhook(settings, process.components),
    )
    stop = threading.Event()
    for sig in (signal.SIGINT, signal.SIGTERM):
        signal.signal(sig, lambda _signum, _frame: stop.set())
    host = reachable_host(settings.host)
    print(f"Monitor     http://{host}:{settings.monitor_port}/metrics  ({monitor.identity})")
    try:
        monitor.run(stop, tick=1.0)
    finally:
        server.shutdown()
        server.server_close()
        process.components.close()
        stop_tracing()
    return 0


def drift_webhook(settings: Settings, components: Components) -> dict[str, PostHandler]:
    """POST /alerts when MLOPS_RETRAIN_ON_DRIFT is on and a webhook token is set; else none."""
    from mlops_pipeline.monitoring.alert_webhook import DriftWebhook

    if settings.retrain_on_drift == "off" or components.storage is None:
        return {}
    if settings.retrain_webhook_token is None:
        print(
            "MLOPS_RETRAIN_ON_DRIFT is on but MLOPS_RETRAIN_WEBHOOK_TOKEN is unset:"
            " the drift webhook stays off",
            file=sys.stderr,
        )
        return {}
    webhook = DriftWebhook(
        components.storage.retrains,
        settings.retrain_on_drift,
        settings.retrain_webhook_token.get_secret_value(),
        settings.retrain_min_interval_seconds,
    )
    return {"/alerts": webhook}
