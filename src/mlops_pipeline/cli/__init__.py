"""The `mlops` command line: train, serve, monitor, db, drift, smoke, ui, up."""

from mlops_pipeline.cli.common import CliError
from mlops_pipeline.cli.main import main
from mlops_pipeline.cli.up import with_local_tokens

__all__ = ["CliError", "main", "with_local_tokens"]
