"""What every `mlops` subcommand shares: its error type and settings from flags."""

from __future__ import annotations

import argparse
from typing import Any

from mlops_pipeline.config import Settings


class CliError(Exception):
    """A problem the user can fix; printed without a traceback, exit status 2."""


def settings_from(args: argparse.Namespace, **flag_to_field: str) -> Settings:
    """Environment first, then the flags the user gave on the command line."""
    overrides: dict[str, Any] = {
        field: getattr(args, flag)
        for flag, field in flag_to_field.items()
        if getattr(args, flag, None) is not None
    }
    base = Settings()
    return Settings.model_validate({**base.model_dump(), **overrides})
