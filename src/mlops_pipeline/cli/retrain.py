"""`mlops retrain`: a candidate trained on the base data plus what production labelled.

Admin work: reads the same settings as the API (MLOPS_DATABASE_URL or MLOPS_DB_PATH,
MLOPS_ARTIFACTS_DIR), registers the candidate at weight 0 and, with --rollout, starts the
default rollout plan against the champion. The run is recorded like one the monitor runs.
"""

from __future__ import annotations

import argparse
import getpass
import json
import time
from pathlib import Path

from mlops_pipeline.cli.checks import schema_is_current
from mlops_pipeline.cli.common import CliError, settings_from


def add_parser(commands: argparse._SubParsersAction[argparse.ArgumentParser]) -> None:
    retrain = commands.add_parser(
        "retrain", help="train a candidate on base data + production labels and register it"
    )
    retrain.add_argument("--version", help="name of the candidate (default: the next vN)")
    retrain.add_argument(
        "--since", type=float, metavar="DAYS", help="only labelled predictions of the last DAYS"
    )
    retrain.add_argument("--base-data", type=Path, metavar="CSV", help="the original data")
    retrain.add_argument("--target", default="target", help="target column of --base-data")
    retrain.add_argument("--like", help="a catalogue version's recipe instead of the champion's")
    retrain.add_argument("--out", type=Path, help="also keep the candidate's artifacts here")
    retrain.add_argument("--rollout", action="store_true", help="start the default rollout")
    retrain.add_argument("--json", action="store_true", help="print the comparison as JSON")
    retrain.add_argument("--db", type=Path, help="SQLite file (MLOPS_DB_PATH)")
    retrain.add_argument("--artifacts", type=Path, help="served artifacts (MLOPS_ARTIFACTS_DIR)")
    retrain.add_argument("--actor", default=None, help="who, for the audit (default: $USER)")
    retrain.set_defaults(handler=run_retrain)


def run_retrain(args: argparse.Namespace) -> int:
    from prometheus_client import CollectorRegistry

    from mlops_pipeline.bootstrap import build_components
    from mlops_pipeline.catalogue import VERSION_NAME
    from mlops_pipeline.monitoring.metrics import Metrics
    from mlops_pipeline.retraining.champion import RetrainRefused
    from mlops_pipeline.retraining.service import Options
    from mlops_pipeline.storage.retrains import RetrainBusy

    if args.version is not None and not VERSION_NAME.match(args.version):
        raise CliError(f"--version must match {VERSION_NAME.pattern}, got {args.version[:40]!r}")
    if args.since is not None and not args.since > 0:
        raise CliError(f"--since takes a positive number of days, got {args.since}")
    if args.out is not None and args.out.exists():
        raise CliError(f"{args.out} exists; --out takes a new folder")
    settings = settings_from(args, db="db_path", artifacts="artifacts_dir")
    settings = settings.model_copy(update={"shadow_version": None, "log_predictions": True})
    schema_is_current(settings)
    components = build_components(settings, Metrics(CollectorRegistry()), publish_gauges=False)
    storage = components.storage
    assert storage is not None
    try:
        actor = str(args.actor or getpass.getuser())[:64]
        try:
            run = storage.retrains.open(
                "cli", actor, args.version, args.rollout, args.since, time.time(), running=True
            )
        except RetrainBusy as exc:
            raise CliError(f"{exc} (see GET /retrains)") from exc
        options = Options(args.base_data, args.target, args.like, args.out)
        try:
            outcome = components.retrainer(settings).execute(run, options)
        except RetrainRefused as exc:
            raise CliError(f"not retrained: {exc}") from exc
    finally:
        components.close()
    if args.json:
        print(
            json.dumps(
                {
                    "version": outcome.version,
                    "lineage": outcome.lineage,
                    "rollout_id": outcome.rollout_id,
                },
                indent=2,
            )
        )
    else:
        print(outcome.summary())
    return 0
