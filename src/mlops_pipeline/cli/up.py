"""`mlops up`: the whole local stack (API, monitor, Prometheus, UI), with its own tokens."""

from __future__ import annotations

import argparse
import os
import shutil
import subprocess
from pathlib import Path

from mlops_pipeline.cli.checks import strong_tokens, upgrade_database, verified
from mlops_pipeline.cli.common import CliError, settings_from
from mlops_pipeline.cli.training import train
from mlops_pipeline.config import Settings

SERVER_FLAGS = {
    "artifacts": "artifacts_dir",
    "db": "db_path",
    "host": "host",
    "port": "port",
    "workers": "workers",
    "grpc_port": "grpc_port",
}


def run_up(args: argparse.Namespace) -> int:
    from mlops_pipeline.artifacts import MANIFEST
    from mlops_pipeline.cli.launcher import (
        api_processes,
        fresh_metrics_dir,
        monitor_process,
        prometheus_process,
        reachable_host,
        supervise,
        ui_process,
    )

    settings = local_drift_bound(strong_tokens(settings_from(args, **SERVER_FLAGS)))
    if not (settings.artifacts_dir / MANIFEST).exists():
        print(f"no models in {settings.artifacts_dir}: training them first")
        train(settings)
    if settings.log_predictions:  # the all-in-one local stack brings its own database up to date
        upgrade_database(settings, quiet_if_current=True)
    verified(settings)
    settings, token_file = with_local_tokens(settings)
    if token_file is not None:
        print(f"Tokens      {token_file}  (admin and feedback bearer tokens; the UI uses them)")
    metrics_dir = fresh_metrics_dir(settings)
    processes = [*api_processes(settings, metrics_dir), monitor_process(settings)]
    host = reachable_host(settings.host)
    base = f"http://{host}:{settings.port}"
    print(f"API         {base}  (try: curl {base}/ready)")
    print(f"Metrics     {base}/metrics   drift: {base}/drift")
    if settings.grpc_port:
        print(f"gRPC        {host}:{settings.grpc_port}  (Open Inference Protocol V2)")
    print(
        f"Monitor     http://{host}:{settings.monitor_port}/metrics  (drift, experiment, retention)"
    )
    alertmanager = start_alertmanager(settings, processes, host)
    prometheus = shutil.which("prometheus")
    if prometheus is None:
        print("Prometheus  not installed; `sudo apt-get install prometheus` adds it to `make up`")
    elif not (settings.prometheus_config_dir / "prometheus.yml").exists():
        print(f"Prometheus  skipped: no prometheus.yml in {settings.prometheus_config_dir}")
    else:
        processes.append(prometheus_process(settings, prometheus, alertmanager))
        print(f"Prometheus  http://{host}:{settings.prometheus_port}  (alerts: /alerts)")
    ui_settings = settings.model_copy(
        update={
            "api_url": base,
            "prometheus_url": f"http://{host}:{settings.prometheus_port}",
        }
    )
    processes.append(ui_process(ui_settings))
    print(f"UI          http://{host}:{settings.ui_port}")
    print("Press Ctrl-C to stop everything.")
    try:
        return supervise(processes)
    finally:
        shutil.rmtree(metrics_dir, ignore_errors=True)


LOOPBACK = {"127.0.0.1", "localhost", "::1"}


def local_drift_bound(settings: Settings) -> Settings:
    """On a loopback-only stack every caller is the person running it, usually one client (the
    UI): bounding one client's share of the drift window would leave drift warming up forever.
    A stack reachable from elsewhere, or an explicit MLOPS_DRIFT_MAX_CLIENT_SHARE, keeps the bound.
    """
    if settings.host not in LOOPBACK or "MLOPS_DRIFT_MAX_CLIENT_SHARE" in os.environ:
        return settings
    return settings.model_copy(update={"drift_max_client_share": 1.0})


def start_alertmanager(
    settings: Settings, processes: list[subprocess.Popen[bytes]], host: str
) -> str | None:
    """Alertmanager when it is installed (Debian names it prometheus-alertmanager); its address."""
    from mlops_pipeline.cli.alerting import TEMPLATE
    from mlops_pipeline.cli.launcher import alertmanager_process

    binary = shutil.which("prometheus-alertmanager") or shutil.which("alertmanager")
    if binary is None:
        print("Alertmanager not installed; `sudo apt-get install prometheus-alertmanager` adds it")
        return None
    if not TEMPLATE.exists():
        print(f"Alertmanager skipped: no {TEMPLATE}")
        return None
    processes.append(alertmanager_process(settings, binary, TEMPLATE))
    address = f"{host}:{settings.alertmanager_port}"
    print(f"Alertmanager http://{address}  (deliveries: MLOPS_ALERT_* settings)")
    return address


def with_local_tokens(settings: Settings) -> tuple[Settings, Path | None]:
    """Settings with both tokens: given ones kept, missing ones read or made in a 0600 file."""
    from mlops_pipeline.cli.tokens import ensure_token_file

    if settings.admin_token is not None and settings.feedback_token is not None:
        return settings, None
    path = settings.db_path.parent / "tokens.env"
    try:
        tokens = ensure_token_file(path)
    except (OSError, ValueError) as exc:
        raise CliError(f"cannot keep the local tokens in {path}: {exc}") from exc
    update = {
        name: tokens[f"MLOPS_{name.upper()}"]
        for name in ("admin_token", "feedback_token")
        if getattr(settings, name) is None
    }
    updated = Settings.model_validate({**settings.model_dump(), **update})
    return strong_tokens(updated), path
