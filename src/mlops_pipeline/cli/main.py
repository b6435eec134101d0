"""`mlops` command line: train, serve, up."""

from __future__ import annotations

import argparse
import shutil
import sys
from collections.abc import Sequence
from pathlib import Path
from typing import Any

from mlops_pipeline.config import Settings


class CliError(Exception):
    """A problem the user can fix; printed without a traceback, exit status 2."""


def main(argv: Sequence[str] | None = None) -> int:
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
    train.add_argument("--data", type=Path, help="CSV of numeric features and a target column")
    train.add_argument("--target", help="target column of --data")
    train.add_argument("--out", type=Path, help="artifacts folder (MLOPS_ARTIFACTS_DIR)")
    train.add_argument("--versions-file", type=Path, help="model-version catalogue (TOML)")
    train.set_defaults(handler=run_train)

    serve = commands.add_parser("serve", help="run the API under gunicorn")
    _add_server_flags(serve)
    serve.set_defaults(handler=run_serve)

    drift = commands.add_parser("drift", help="drift report for a CSV batch against training")
    drift.add_argument("--data", type=Path, required=True, help="CSV with the feature columns")
    drift.add_argument("--artifacts", type=Path, help="artifacts folder (MLOPS_ARTIFACTS_DIR)")
    drift.add_argument("--version", help="model version whose predictions are tested")
    drift.add_argument("--json", action="store_true", help="print the report as JSON")
    drift.set_defaults(handler=run_drift)

    smoke = commands.add_parser("smoke", help="check a running API end to end")
    smoke.add_argument("--url", help="API base URL (MLOPS_API_URL)")
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

    up = commands.add_parser("up", help="train if needed, then run the whole local stack")
    _add_server_flags(up)
    up.set_defaults(handler=run_up)
    return parser


def _add_server_flags(parser: argparse.ArgumentParser) -> None:
    parser.add_argument("--artifacts", type=Path, help="artifacts folder (MLOPS_ARTIFACTS_DIR)")
    parser.add_argument("--db", type=Path, help="SQLite prediction log (MLOPS_DB_PATH)")
    parser.add_argument("--host", help="interface to bind (MLOPS_HOST)")
    parser.add_argument("--port", type=int, help="port (MLOPS_PORT)")
    parser.add_argument("--workers", type=int, help="gunicorn workers (MLOPS_WORKERS)")


def settings_from(args: argparse.Namespace, **flag_to_field: str) -> Settings:
    """Environment first, then the flags the user gave on the command line."""
    overrides: dict[str, Any] = {
        field: getattr(args, flag)
        for flag, field in flag_to_field.items()
        if getattr(args, flag, None) is not None
    }
    base = Settings()
    return Settings.model_validate({**base.model_dump(), **overrides})


SERVER_FLAGS = {
    "artifacts": "artifacts_dir",
    "db": "db_path",
    "host": "host",
    "port": "port",
    "workers": "workers",
}


def run_train(args: argparse.Namespace) -> int:
    if (args.data is None) != (args.target is None):
        raise CliError("--data and --target go together")
    settings = settings_from(args, out="artifacts_dir", versions_file="versions_file")
    train(settings, args.data, args.target)
    return 0


def train(settings: Settings, data: Path | None = None, target: str | None = None) -> None:
    from mlops_pipeline.config import load_catalogue
    from mlops_pipeline.training.data import DataError, load_csv_dataset, load_iris_dataset
    from mlops_pipeline.training.trainer import train_all

    try:
        if data is None or target is None:
            dataset = load_iris_dataset()
        else:
            dataset = load_csv_dataset(data, target)
        catalogue = load_catalogue(settings.versions_file)
        reports = train_all(dataset, catalogue, settings.artifacts_dir)
    except (DataError, ValueError, OSError) as exc:
        raise CliError(str(exc)) from exc
    print(f"trained on {dataset.source}: {len(dataset.labels)} rows, {dataset.n_features} features")
    print(f"{'version':<10}{'accuracy':>10}{'macro-F1':>10}{'ONNX max |dp|':>16}")
    for report in reports:
        print(
            f"{report.name:<10}{report.accuracy:>10.4f}{report.macro_f1:>10.4f}"
            f"{report.max_probability_diff:>16.2e}"
        )
    print(f"artifacts written to {settings.artifacts_dir}")


def schema_is_current(settings: Settings) -> None:
    from mlops_pipeline.config import database_url
    from mlops_pipeline.storage import StoreUnavailable, redact
    from mlops_pipeline.storage.schema import SchemaBehind, require_current

    url = database_url(settings)
    try:
        require_current(url)
    except SchemaBehind as exc:
        raise CliError(f"refusing to start: {exc}") from exc
    except (StoreUnavailable, OSError) as exc:
        raise CliError(f"refusing to start: cannot read {redact(url)}: {exc}") from exc
    except Exception as exc:  # SQLAlchemy wraps the driver's connection errors
        raise CliError(f"refusing to start: cannot read {redact(url)}: {exc}") from exc


def strong_tokens(settings: Settings) -> Settings:
    """``settings`` unless a configured token is too short to guard a server."""
    from mlops_pipeline.config import token_problems

    problems = token_problems(settings)
    if problems:
        raise CliError("refusing to start: " + "; ".join(problems))
    return settings


def verified(settings: Settings) -> Settings:
    """``settings`` once its tokens are strong enough and its artifacts match their manifest."""
    from mlops_pipeline.artifacts import ArtifactError, verify_files

    strong_tokens(settings)
    try:
        verify_files(settings.artifacts_dir)
    except ArtifactError as exc:
        raise CliError(f"refusing to start: {exc}") from exc
    if settings.log_predictions:
        schema_is_current(settings)
    return settings


def run_serve(args: argparse.Namespace) -> int:
    from mlops_pipeline.cli.launcher import api_process, fresh_metrics_dir, supervise

    settings = verified(settings_from(args, **SERVER_FLAGS))
    metrics_dir = fresh_metrics_dir(settings)
    try:
        return supervise([api_process(settings, metrics_dir)])
    finally:
        shutil.rmtree(metrics_dir, ignore_errors=True)


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
    import signal
    import threading

    from mlops_pipeline.bootstrap import build_monitor
    from mlops_pipeline.cli.launcher import reachable_host
    from mlops_pipeline.monitoring.leader import status_server

    settings = verified(
        settings_from(
            args, artifacts="artifacts_dir", db="db_path", host="host", port="monitor_port"
        )
    )
    process = build_monitor(settings)
    monitor = process.monitor
    server = status_server(
        settings.host,
        settings.monitor_port,
        process.registry,
        lambda: {"leader": monitor.leader, "identity": monitor.identity},
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
        process.components.close()
    return 0


def run_db_upgrade(args: argparse.Namespace) -> int:
    upgrade_database(settings_from(args, db="db_path"))
    return 0


def upgrade_database(settings: Settings) -> None:
    from mlops_pipeline.config import database_url
    from mlops_pipeline.storage import StoreUnavailable, redact
    from mlops_pipeline.storage.schema import upgrade

    url = database_url(settings)
    try:
        before, after = upgrade(url)
    except (StoreUnavailable, OSError, ImportError) as exc:
        raise CliError(f"cannot upgrade {redact(url)}: {exc}") from exc
    except Exception as exc:  # SQLAlchemy's connection errors carry the driver's message
        raise CliError(f"cannot upgrade {redact(url)}: {type(exc).__name__}: {exc}") from exc
    if before == after:
        print(f"{redact(url)}: schema already at revision {after}")
    else:
        print(f"{redact(url)}: schema upgraded from {before or 'nothing'} to revision {after}")


def run_db_status(args: argparse.Namespace) -> int:
    from mlops_pipeline.config import database_url
    from mlops_pipeline.storage import redact
    from mlops_pipeline.storage.schema import current_revision, head_revision

    url = database_url(settings_from(args, db="db_path"))
    try:
        current = current_revision(url)
    except Exception as exc:
        raise CliError(f"cannot read {redact(url)}: {type(exc).__name__}: {exc}") from exc
    head = head_revision()
    print(f"{redact(url)}: revision {current or 'none'}; this release needs {head}")
    return 0 if current == head else 1


def run_smoke_command(args: argparse.Namespace) -> int:
    from mlops_pipeline.cli.smoke import run_smoke

    settings = settings_from(args, url="api_url")
    failures = run_smoke(settings.api_url)
    print(f"smoke test against {settings.api_url}: {len(failures)} failed")
    return 1 if failures else 0


def run_ui(args: argparse.Namespace) -> int:
    from mlops_pipeline.cli.launcher import reachable_host, supervise, ui_process

    settings = settings_from(
        args, port="ui_port", api_url="api_url", prometheus_url="prometheus_url"
    )
    print(f"UI          http://{reachable_host(settings.host)}:{settings.ui_port}")
    return supervise([ui_process(settings)])


def run_up(args: argparse.Namespace) -> int:
    from mlops_pipeline.artifacts import MANIFEST
    from mlops_pipeline.cli.launcher import (
        api_process,
        fresh_metrics_dir,
        monitor_process,
        prometheus_process,
        reachable_host,
        supervise,
        ui_process,
    )

    settings = strong_tokens(settings_from(args, **SERVER_FLAGS))
    if not (settings.artifacts_dir / MANIFEST).exists():
        print(f"no models in {settings.artifacts_dir}: training them first")
        train(settings)
    if settings.log_predictions:  # the all-in-one local stack brings its own database up to date
        upgrade_database(settings)
    verified(settings)
    settings, token_file = with_local_tokens(settings)
    if token_file is not None:
        print(f"Tokens      {token_file}  (admin and feedback bearer tokens; the UI uses them)")
    metrics_dir = fresh_metrics_dir(settings)
    processes = [api_process(settings, metrics_dir), monitor_process(settings)]
    host = reachable_host(settings.host)
    base = f"http://{host}:{settings.port}"
    print(f"API         {base}  (try: curl {base}/ready)")
    print(f"Metrics     {base}/metrics   drift: {base}/drift")
    print(
        f"Monitor     http://{host}:{settings.monitor_port}/metrics  (drift, experiment, retention)"
    )
    prometheus = shutil.which("prometheus")
    if prometheus is None:
        print("Prometheus  not installed; `sudo apt-get install prometheus` adds it to `make up`")
    elif not (settings.prometheus_config_dir / "prometheus.yml").exists():
        print(f"Prometheus  skipped: no prometheus.yml in {settings.prometheus_config_dir}")
    else:
        processes.append(prometheus_process(settings, prometheus))
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


if __name__ == "__main__":
    raise SystemExit(main())
