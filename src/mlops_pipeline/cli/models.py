"""`mlops models register|import|retire|list`: versions added to or taken from a running system.

Admin commands: they read the same settings as the API (MLOPS_DATABASE_URL or MLOPS_DB_PATH,
MLOPS_ARTIFACTS_DIR) and write the model store every replica polls.
"""

from __future__ import annotations

import argparse
import getpass
import time
from pathlib import Path
from typing import TYPE_CHECKING

from mlops_pipeline.catalogue import version_name_problem
from mlops_pipeline.cli.checks import schema_is_current
from mlops_pipeline.cli.common import CliError, settings_from
from mlops_pipeline.config import Settings

if TYPE_CHECKING:
    from mlops_pipeline.storage import Storage

FLAGS = {"db": "db_path", "artifacts": "artifacts_dir"}


def add_parser(commands: argparse._SubParsersAction[argparse.ArgumentParser]) -> None:
    models = commands.add_parser("models", help="register, retire or list model versions")
    sub = models.add_subparsers(dest="models_command", required=True)
    register = sub.add_parser("register", help="serve a trained version on every replica")
    register.add_argument("folder", type=Path, help="artifacts folder holding the version")
    register.add_argument("--version", required=True, help="the version to register")
    imported = sub.add_parser(
        "import", help="convert a model trained elsewhere to ONNX and register it at weight 0"
    )
    imported.add_argument(
        "path", type=Path, help="skops, XGBoost JSON/UBJ, LightGBM text, ONNX or MLflow directory"
    )
    imported.add_argument("--version", required=True, help="the version to register")
    imported.add_argument("--schema", type=Path, help="FeatureSchema JSON (required for ONNX)")
    imported.add_argument("--sample", type=Path, help="CSV of rows the parity check runs on")
    retire = sub.add_parser("retire", help="stop serving a version (it must have no traffic)")
    retire.add_argument("version")
    listing = sub.add_parser("list", help="versions registered or retired at run time")
    handlers = (
        (register, run_register), (imported, run_import), (retire, run_retire), (listing, run_list)
    )  # fmt: skip
    for parser, handler in handlers:
        parser.add_argument("--db", type=Path, help="SQLite file (MLOPS_DB_PATH)")
        parser.add_argument("--artifacts", type=Path, help="served artifacts (MLOPS_ARTIFACTS_DIR)")
        parser.add_argument("--actor", default=None, help="who, for the audit (default: $USER)")
        parser.set_defaults(handler=handler)


def _storage(settings: Settings) -> Storage:
    from mlops_pipeline.config import database_url
    from mlops_pipeline.storage import open_storage

    schema_is_current(settings)
    return open_storage(database_url(settings))


def _actor(args: argparse.Namespace) -> str:
    return str(args.actor or getpass.getuser())[:64]


def _version(value: str) -> str:
    """``value`` if it may name a version (the API's rule), before any database is opened."""
    problem = version_name_problem(value)
    if problem is not None:
        raise CliError(problem)
    return value


def run_register(args: argparse.Namespace) -> int:
    from mlops_pipeline.delivery.model_checks import RegistrationLimits
    from mlops_pipeline.delivery.registration import RegistrationRefused, register_folder

    version = _version(args.version)
    settings = settings_from(args, **FLAGS)
    storage = _storage(settings)
    try:
        model = register_folder(
            storage, args.folder, version, settings.artifacts_dir, _actor(args), time.time(),
            RegistrationLimits.from_settings(settings),
        )  # fmt: skip
    except RegistrationRefused as exc:
        raise CliError(str(exc)) from exc
    finally:
        storage.close()
    print(
        f"registered {model.version} (model.onnx {(model.sha256 or '')[:12]},"
        f" {model.metadata.get('algorithm')}); every replica serves it within"
        f" {settings.model_sync_seconds:g} s, with weight 0 until a rollout or"
        " PUT /config/weights gives it traffic"
    )
    return 0


def run_import(args: argparse.Namespace) -> int:
    from mlops_pipeline.delivery.model_checks import RegistrationLimits
    from mlops_pipeline.importing.common import ImportRefused
    from mlops_pipeline.importing.service import import_model

    version = _version(args.version)
    settings = settings_from(args, **FLAGS)
    storage = _storage(settings)
    try:
        model, imported = import_model(
            storage, args.path, version, settings.artifacts_dir, _actor(args),
            RegistrationLimits.from_settings(settings), args.schema, args.sample,
        )  # fmt: skip
    except ImportRefused as exc:
        raise CliError(f"refusing to import {version}: {exc}") from exc
    finally:
        storage.close()
    lineage = imported.metadata["import"]
    parity = lineage["parity"]
    print(
        f"imported {model.version} from {lineage['source_format']} ({model.metadata['algorithm']},"
        f" model.onnx {(model.sha256 or '')[:12]}); parity on {parity['rows']} {parity['on']}:"
        f" max probability difference {parity['max_probability_diff']:.2g}; every replica"
        f" serves it within {settings.model_sync_seconds:g} s, with weight 0"
    )
    return 0


def run_retire(args: argparse.Namespace) -> int:
    from mlops_pipeline.artifacts import ArtifactError, load_bundle
    from mlops_pipeline.storage.models import ACTIVE, RETIRED, VersionInUse

    version = _version(args.version)
    settings = settings_from(args, **FLAGS)
    try:
        served = load_bundle(settings.artifacts_dir)
    except ArtifactError as exc:
        raise CliError(str(exc)) from exc
    storage = _storage(settings)
    try:
        catalog = storage.models.catalog()
        active = {m.version for m in catalog if m.status == ACTIVE}
        retired = {m.version for m in catalog if m.status == RETIRED}
        if version in retired:
            raise CliError(f"{version} is already retired")
        if version not in set(served.versions) | active:
            raise CliError(f"no version {version!r} is served")
        stored = storage.weights.current()
        weights = stored.weights if stored is not None else served.default_weights
        if weights.get(version, 0.0) > 0:
            raise CliError(
                f"refusing to retire {version}: it has {weights[version]:.0%} of the traffic;"
                " move it to another version first (PUT /config/weights or a rollout)"
            )
        rollout = storage.rollouts.current()
        if rollout is not None and (
            version in (rollout.candidate, rollout.baseline)
            or rollout.weights_before.get(version, 0.0) > 0
        ):
            raise CliError(
                f"refusing to retire {version}: rollout {rollout.id} compares it or restores"
                " traffic to it when it ends"
            )
        try:
            storage.models.retire(version, _actor(args), time.time())
        except VersionInUse as exc:  # traffic or a rollout arrived since the checks above
            raise CliError(f"refusing to retire {version}: {exc}") from exc
    finally:
        storage.close()
    print(f"retired {version}: replicas stop serving it within {settings.model_sync_seconds:g} s")
    return 0


def run_list(args: argparse.Namespace) -> int:
    settings = settings_from(args, **FLAGS)
    storage = _storage(settings)
    try:
        catalog = storage.models.catalog()
    finally:
        storage.close()
    print(f"{'version':<12}{'status':<10}{'model.onnx':<14}{'by':<16}registered")
    for model in catalog:
        when = time.strftime("%Y-%m-%d %H:%M:%S", time.gmtime(model.registered_at))
        digest = (model.sha256 or "-")[:12]
        print(f"{model.version:<12}{model.status:<10}{digest:<14}{model.actor[:15]:<16}{when}")
    return 0
