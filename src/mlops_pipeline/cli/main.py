"""`mlops` command line: train, serve, up."""

from __future__ import annotations

import argparse
import shutil
import sys
from collections.abc import Sequence
from pathlib import Path

from mlops_pipeline.cli import alerting, drift, models, monitor, retrain, rollout
from mlops_pipeline.cli.checks import run_db_status, run_db_upgrade, verified
from mlops_pipeline.cli.common import CliError, settings_from
from mlops_pipeline.cli.training import run_train
from mlops_pipeline.cli.up import SERVER_FLAGS, run_up
from mlops_pipeline.logs import configure_logging


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
    # Added in this order, which is the order `mlops --help` lists them in.
    _add_train(commands)

    serve = commands.add_parser(
        "serve", help="run the API (HTTP, and V2 gRPC unless its port is 0)"
    )
    _add_server_flags(serve)
    serve.set_defaults(handler=run_serve)

    grpc = commands.add_parser("grpc", help="run only the V2 gRPC service (`serve` starts it)")
    _add_server_flags(grpc)
    grpc.set_defaults(handler=run_grpc)

    drift.add_parser(commands)
    _add_smoke(commands)
    _add_ui(commands)
    monitor.add_parser(commands)
    _add_db(commands)
    models.add_parser(commands)
    rollout.add_parser(commands)
    alerting.add_parser(commands)
    retrain.add_parser(commands)

    up = commands.add_parser("up", help="train if needed, then run the whole local stack")
    _add_server_flags(up)
    up.set_defaults(handler=run_up)
    return parser


def _add_train(commands: argparse._SubParsersAction[argparse.ArgumentParser]) -> None:
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


def _add_smoke(commands: argparse._SubParsersAction[argparse.ArgumentParser]) -> None:
    smoke = commands.add_parser("smoke", help="check a running API end to end")
    smoke.add_argument("--url", help="API base URL (MLOPS_API_URL)")
    smoke.add_argument("--grpc", metavar="HOST:PORT", help="also check the V2 gRPC service")
    smoke.add_argument(
        "--grpc-cacert", type=Path, help="speak TLS to --grpc, trusting this certificate (PEM)"
    )
    smoke.set_defaults(handler=run_smoke_command)


def _add_ui(commands: argparse._SubParsersAction[argparse.ArgumentParser]) -> None:
    ui = commands.add_parser("ui", help="run the Streamlit UI")
    ui.add_argument("--port", type=int, help="UI port (MLOPS_UI_PORT)")
    ui.add_argument("--api-url", help="API base URL (MLOPS_API_URL)")
    ui.add_argument("--prometheus-url", help="Prometheus URL (MLOPS_PROMETHEUS_URL)")
    ui.set_defaults(handler=run_ui)


def _add_db(commands: argparse._SubParsersAction[argparse.ArgumentParser]) -> None:
    db = commands.add_parser("db", help="database schema: upgrade or show the revision")
    db_commands = db.add_subparsers(dest="db_command", required=True)
    for name, text, handler in (
        ("upgrade", "apply pending schema migrations (idempotent)", run_db_upgrade),
        ("status", "show the schema revision against this release's", run_db_status),
    ):
        sub = db_commands.add_parser(name, help=text)
        sub.add_argument("--db", type=Path, help="SQLite file (MLOPS_DB_PATH)")
        sub.set_defaults(handler=handler)


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
