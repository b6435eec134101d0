"""`mlops` command line: train, serve, up."""

from __future__ import annotations

import argparse
import shutil
import sys
from collections.abc import Sequence
from pathlib import Path
from typing import TYPE_CHECKING

from mlops_pipeline.cli import alerting, models, retrain, rollout
from mlops_pipeline.cli.checks import run_db_status, run_db_upgrade, verified
from mlops_pipeline.cli.common import CliError, settings_from
from mlops_pipeline.cli.training import run_train
from mlops_pipeline.cli.up import SERVER_FLAGS, run_up
from mlops_pipeline.config import Settings
from mlops_pipeline.logs import configure_logging

if TYPE_CHECKING:
    from mlops_pipeline.bootstrap import Components
    from mlops_pipeline.monitoring.leader import PostHandler


def main(argv: Sequence[str] | None = None) -> int:
    configure_logging()  # every subcommand's process (monitor, gRPC, retrain) starts here
    parser = build_parser()
    args = parser.parse_args(argv)
    try:
        return int(args.handler(args))
    except CliError as exc:
        print(f"mlops: error: {exc}", file=sys.stderr)
        return 2


def build_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(prog="mlops", description=__doc__)
    commands = parser.add_subparsers(dest="command", required=True)

    train = commands.add_parser("train", help="train every catalogued model version")
    train.add_argument(
        "--data",
        type=Path,
        help="CSV of features and a target column; strings, booleans or missing values train"
        " a preprocessing pipeline per version (examples/penguins)",
    )
    train.add_argument("--target", help="target column of --data")
    train.add_argument("--out", type=Path, help="artifacts folder (MLOPS_ARTIFACTS_DIR)")
    train.add_argument("--versions-file", type=Path, help="model-version catalogue (TOML)")
    train.add_argument(
        "--only",
        action="append",
        metavar="VERSION",
        help="train only this catalogued version (repeatable); others in --out are kept",
    )
    train.set_defaults(handler=run_train)

    serve = commands.add_parser(
        "serve", help="run the API (HTTP, and V2 gRPC unless its port is 0)"
    )
    _add_server_flags(serve)
    serve.set_defaults(handler=run_serve)

    grpc = commands.add_parser("grpc", help="run only the V2 gRPC service (`serve` starts it)")
    _add_server_flags(grpc)
    grpc.set_defaults(handler=run_grpc)

    drift = commands.add_parser("drift", help="drift report for a CSV batch against training")
    drift.add_argument("--data", type=Path, required=True, help="CSV with the feature columns")
    drift.add_argument("--artifacts", type=Path, help="artifacts folder (MLOPS_ARTIFACTS_DIR)")
    drift.add_argument("--version", help="model version whose predictions are tested")
    drift.add_argument("--json", action="store_true", help="print the report as JSON")
    drift.set_defaults(handler=run_drift)

    smoke = commands.add_parser("smoke", help="check a running API end to end")
    smoke.add_argument("--url", help="API base URL (MLOPS_API_URL)")
    smoke.add_argument("--grpc", metavar="HOST:PORT", help="also check the V2 gRPC service")
    smoke.add_argument(
        "--grpc-cacert", type=Path, help="speak TLS to --grpc, trusting this certificate (PEM)"
    )
    smoke.set_defaults(handler=run_smoke_command)

    ui = commands.add_parser("ui", help="run the Streamlit UI")
    ui.add_argument("--port", type=int, help="UI port (MLOPS_UI_PORT)")
    ui.add_argument("--api-url", help="API base URL (MLOPS_API_URL)")
    ui.add_argument("--prometheus-url", help="Prometheus URL (MLOPS_PROMETHEUS_URL)")
    ui.set_defaults(handler=run_ui)

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

    db = commands.add_parser("db", help="database schema: upgrade or show the revision")
    db_commands = db.add_subparsers(dest="db_command", required=True)
    for name, text, handler in (
        ("upgrade", "apply pending schema migrations (idempotent)", run_db_upgrade),
        ("status", "show the schema revision against this release's", run_db_status),
    ):
        sub = db_commands.add_parser(name, help=text)
        sub.add_argument("--db", type=Path, help="SQLite file (MLOPS_DB_PATH)")
        sub.set_defaults(handler=handler)

    models.add_parser(commands)
    rollout.add_parser(commands)
    alerting.add_parser(commands)
    retrain.add_parser(commands)

    up = commands.add_parser("up", help="train if needed, then run the whole local stack")
    _add_server_flags(up)
    up.set_defaults(handler=run_up)
    return parser


def _add_server_flags(parser: argparse.ArgumentParser) -> None:
    parser.add_argument("--artifacts", type=Path, help="artifacts folder (MLOPS_ARTIFACTS_DIR)")
    parser.add_argument("--db", type=Path, help="SQLite prediction log (MLOPS_DB_PATH)")
    parser.add_argument("--host", help="interface to bind (MLOPS_HOST)")
    parser.add_argument("--port", type=int, help="port (MLOPS_PORT)")
    parser.add_argument("--workers", type=int, help="HTTP worker processes (MLOPS_WORKERS)")
    parser.add_argument("--grpc-port", type=int, help="V2 gRPC port, 0 for none (MLOPS_GRPC_PORT)")


def run_serve(args: argparse.Namespace) -> int:
    from mlops_pipeline.cli.launcher import api_processes, fresh_metrics_dir, supervise

    settings = verified(settings_from(args, **SERVER_FLAGS))
    metrics_dir = fresh_metrics_dir(settings)
    try:
        return supervise(api_processes(settings, metrics_dir))
    finally:
        shutil.rmtree(metrics_dir, ignore_errors=True)


def run_grpc(args: argparse.Namespace) -> int:
    import signal
    import threading

    from mlops_pipeline.processes import build_grpc
    from mlops_pipeline.rpc.server import BindError, mark_process_dead, serve_until

    settings = verified(settings_from(args, **SERVER_FLAGS))
    if not settings.grpc_port:
        raise CliError("MLOPS_GRPC_PORT is 0: the gRPC service is switched off")
    try:
        process = build_grpc(settings)
    except BindError as exc:
        raise CliError(str(exc)) from None
    stop = threading.Event()
    for sig in (signal.SIGINT, signal.SIGTERM):
        signal.signal(sig, lambda _signum, _frame: stop.set())
    try:
        serve_until(process.server, stop)
    finally:
        process.close()
        mark_process_dead()
    return 0


def run_drift(args: argparse.Namespace) -> int:
    import json
    import time

    import numpy as np

    from mlops_pipeline.artifacts import ArtifactError, load_bundle
    from mlops_pipeline.cli.drift_table import drift_table
    from mlops_pipeline.monitoring.drift import Reference, Window, drift_report
    from mlops_pipeline.serving.inference import OnnxPredictor
    from mlops_pipeline.training.data import DataError, load_feature_rows

    settings = settings_from(args, artifacts="artifacts_dir")
    try:
        bundle = load_bundle(settings.artifacts_dir)
        rows = load_feature_rows(args.data, bundle.feature_names)
    except (ArtifactError, DataError) as exc:
        raise CliError(str(exc)) from exc
    version = args.version or max(bundle.default_weights, key=bundle.default_weights.__getitem__)
    if version not in bundle.versions:
        raise CliError(f"no version {version!r}; trained: {sorted(bundle.versions)}")
    predictor = OnnxPredictor(version, bundle.versions[version].onnx_bytes)
    predictions = (
        predictor.predict(rows.features)[0] if len(rows.features) else np.empty(0, np.int64)
    )
    window = Window(rows.features, predictions, [version] * len(predictions), rows.rejected)
    report = drift_report(
        Reference.from_training_stats(bundle.training_stats),
        window,
        settings.drift_threshold,
        settings.drift_min_window,
        time.time(),
    )
    print(json.dumps(report.to_json(), indent=2) if args.json else drift_table(report))
    return 0


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


def run_smoke_command(args: argparse.Namespace) -> int:
    from mlops_pipeline.cli.smoke import run_smoke

    settings = settings_from(args, url="api_url")
    failures = run_smoke(settings.api_url)
    if args.grpc:
        from mlops_pipeline.cli.smoke import run_grpc_smoke

        roots = args.grpc_cacert.read_bytes() if args.grpc_cacert else None
        failures += run_grpc_smoke(args.grpc, root_certificates=roots)
    print(f"smoke test against {settings.api_url}: {len(failures)} failed")
    return 1 if failures else 0


def run_ui(args: argparse.Namespace) -> int:
    from mlops_pipeline.cli.launcher import reachable_host, supervise, ui_process

    settings = settings_from(
        args, port="ui_port", api_url="api_url", prometheus_url="prometheus_url"
    )
    print(f"UI          http://{reachable_host(settings.host)}:{settings.ui_port}")
    return supervise([ui_process(settings)])


if __name__ == "__main__":
    raise SystemExit(main())
