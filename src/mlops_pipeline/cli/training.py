"""`mlops train`: every catalogued version (or the ones asked for) into an artifacts folder."""

from __future__ import annotations

import argparse
from pathlib import Path
from typing import TYPE_CHECKING

from mlops_pipeline.cli.common import CliError, settings_from
from mlops_pipeline.config import Settings

if TYPE_CHECKING:
    from mlops_pipeline.training.trainer import VersionReport


def run_train(args: argparse.Namespace) -> int:
    if (args.data is None) != (args.target is None):
        raise CliError("--data and --target go together")
    settings = settings_from(args, out="artifacts_dir", versions_file="versions_file")
    train(settings, args.data, args.target, only=args.only)
    return 0


def train(
    settings: Settings,
    data: Path | None = None,
    target: str | None = None,
    only: list[str] | None = None,
) -> None:
    from mlops_pipeline.artifacts import ArtifactError
    from mlops_pipeline.catalogue import load_catalogue
    from mlops_pipeline.training.data import (
        DataError,
        NotNumeric,
        load_csv_dataset,
        load_iris_dataset,
    )
    from mlops_pipeline.training.trainer import train_all

    try:
        if data is None or target is None:
            dataset = load_iris_dataset()
        else:
            try:
                dataset = load_csv_dataset(data, target)
            except NotNumeric as exc:  # strings, booleans or missing values: typed training
                train_typed_csv(settings, data, target, only, exc)
                return
        catalogue = load_catalogue(settings.versions_file)
        reports = train_all(dataset, catalogue, settings.artifacts_dir, only=only)
    except (DataError, ValueError, OSError, ArtifactError) as exc:
        raise CliError(str(exc)) from exc
    print(f"trained on {dataset.source}: {len(dataset.labels)} rows, {dataset.n_features} features")
    _print_reports(reports, settings)


def train_typed_csv(
    settings: Settings, data: Path, target: str, only: list[str] | None, why: Exception
) -> None:
    """Mixed-type data (a column of strings or booleans, or missing values): a schema is
    inferred and each version is a preprocessing pipeline in front of its estimator. Numeric
    CSVs keep today's path above, whose models every serving path takes today."""
    from mlops_pipeline.catalogue import load_catalogue
    from mlops_pipeline.training.data import DataError
    from mlops_pipeline.training.typed_data import load_typed_csv
    from mlops_pipeline.training.typed_trainer import train_typed

    if only is not None:
        raise CliError("--only is not supported with mixed-type data yet: train every version")
    catalogue = load_catalogue(settings.versions_file)
    try:
        dataset = load_typed_csv(data, target, catalogue.columns)
    except DataError as exc:  # neither numeric nor typed data: both reasons help
        raise CliError(f"{why}; read as mixed-type data: {exc}") from exc
    reports = train_typed(dataset, catalogue, settings.artifacts_dir)
    kinds = ", ".join(
        f"{sum(c.type == kind for c in dataset.schema.columns)} {kind}"
        for kind in ("double", "integer", "boolean", "string")
    )
    print(f"trained on {dataset.source}: {len(dataset.labels)} rows, columns {kinds}")
    _print_reports(reports, settings)


def _print_reports(reports: list[VersionReport], settings: Settings) -> None:
    print(f"{'version':<10}{'accuracy':>10}{'macro-F1':>10}{'ONNX max |dp|':>16}")
    for report in reports:
        print(
            f"{report.name:<10}{report.accuracy:>10.4f}{report.macro_f1:>10.4f}"
            f"{report.max_probability_diff:>16.2e}"
        )
    print(f"artifacts written to {settings.artifacts_dir}")
