"""`mlops train`: every catalogued version (or the ones asked for) into an artifacts folder."""

from __future__ import annotations

import argparse
from pathlib import Path

from mlops_pipeline.cli.common import CliError, settings_from
from mlops_pipeline.config import Settings


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
    from mlops_pipeline.config import load_catalogue
    from mlops_pipeline.training.data import DataError, load_csv_dataset, load_iris_dataset
    from mlops_pipeline.training.trainer import train_all

    try:
        if data is None or target is None:
            dataset = load_iris_dataset()
        else:
            dataset = load_csv_dataset(data, target)
        catalogue = load_catalogue(settings.versions_file)
        reports = train_all(dataset, catalogue, settings.artifacts_dir, only=only)
    except (DataError, ValueError, OSError, ArtifactError) as exc:
        raise CliError(str(exc)) from exc
    print(f"trained on {dataset.source}: {len(dataset.labels)} rows, {dataset.n_features} features")
    print(f"{'version':<10}{'accuracy':>10}{'macro-F1':>10}{'ONNX max |dp|':>16}")
    for report in reports:
        print(
            f"{report.name:<10}{report.accuracy:>10.4f}{report.macro_f1:>10.4f}"
            f"{report.max_probability_diff:>16.2e}"
        )
    print(f"artifacts written to {settings.artifacts_dir}")
