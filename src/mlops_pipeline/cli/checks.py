"""Checks before a server starts, and the schema commands (`mlops db upgrade|status`)."""

from __future__ import annotations

import argparse
import os

from mlops_pipeline.cli.common import CliError, settings_from
from mlops_pipeline.config import Settings


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
    from mlops_pipeline.credentials import token_problems

    problems = token_problems(settings)
    if problems:
        raise CliError("refusing to start: " + "; ".join(problems))
    return settings


def verified(settings: Settings) -> Settings:
    """``settings`` once its tokens are strong enough and its artifacts match their manifest."""
    from mlops_pipeline.artifacts import ArtifactError, verify_files
    from mlops_pipeline.telemetry.settings import TracingConfigError, tracing_requested

    strong_tokens(settings)
    try:  # a tracing request this build cannot honour stops the start, naming the variable
        tracing_requested(os.environ)
    except TracingConfigError as exc:
        raise CliError(f"refusing to start: {exc}") from exc
    try:
        verify_files(settings.artifacts_dir)
    except ArtifactError as exc:
        raise CliError(f"refusing to start: {exc}") from exc
    if settings.log_predictions:
        if local_database(settings):
            # A SQLite file belongs to this host alone: nobody else has to approve its migration,
            # so a first `mlops serve` on a new path works without a separate `mlops db upgrade`.
            upgrade_database(settings, quiet_if_current=True)
        schema_is_current(settings)
    return settings


def local_database(settings: Settings) -> bool:
    from mlops_pipeline.config import database_url
    from mlops_pipeline.storage.schema import is_sqlite

    return is_sqlite(database_url(settings))


def run_db_upgrade(args: argparse.Namespace) -> int:
    upgrade_database(settings_from(args, db="db_path"))
    return 0


def upgrade_database(settings: Settings, quiet_if_current: bool = False) -> None:
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
        if quiet_if_current:
            return
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
