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
    from mlops_pipeline.data import DataError, load_csv_dataset, load_iris_dataset
    from mlops_pipeline.training import train_all

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


def _checked_server_settings(args: argparse.Namespace) -> Settings:
    from mlops_pipeline.artifacts import ArtifactError, verify_files

    settings = settings_from(args, **SERVER_FLAGS)
    try:
        verify_files(settings.artifacts_dir)
    except ArtifactError as exc:
        raise CliError(f"refusing to start: {exc}") from exc
    return settings


def run_serve(args: argparse.Namespace) -> int:
    from mlops_pipeline.launcher import api_process, fresh_metrics_dir, supervise

    settings = _checked_server_settings(args)
    metrics_dir = fresh_metrics_dir(settings)
    try:
        return supervise([api_process(settings, metrics_dir)])
    finally:
        shutil.rmtree(metrics_dir, ignore_errors=True)


def run_up(args: argparse.Namespace) -> int:
    from mlops_pipeline.artifacts import MANIFEST
    from mlops_pipeline.launcher import api_process, fresh_metrics_dir, supervise

    settings = settings_from(args, **SERVER_FLAGS)
    if not (settings.artifacts_dir / MANIFEST).exists():
        print(f"no models in {settings.artifacts_dir}: training them first")
        train(settings)
    settings = _checked_server_settings(args)
    metrics_dir = fresh_metrics_dir(settings)
    processes = [api_process(settings, metrics_dir)]
    base = f"http://{_display_host(settings.host)}:{settings.port}"
    print(f"API         {base}  (try: curl {base}/ready)")
    print(f"Metrics     {base}/metrics")
    print("Press Ctrl-C to stop everything.")
    try:
        return supervise(processes)
    finally:
        shutil.rmtree(metrics_dir, ignore_errors=True)


def _display_host(host: str) -> str:
    return "127.0.0.1" if host in {"0.0.0.0", "::", ""} else host


if __name__ == "__main__":
    raise SystemExit(main())
