"""The `mlops` command line: train, serve, monitor, db, drift, smoke, ui, up."""

from mlops_pipeline.cli.main import CliError, main, with_local_tokens

__all__ = ["CliError", "main", "with_local_tokens"]
