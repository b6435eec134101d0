"""`mlops drift`: a CSV batch's drift report against the training data, offline.

No database and no running API: the artifacts' training statistics and one version's answers.
"""

from __future__ import annotations

import argparse
from pathlib import Path

from mlops_pipeline.cli.common import CliError, settings_from


def add_parser(commands: argparse._SubParsersAction[argparse.ArgumentParser]) -> None:
    drift = commands.add_parser("drift", help="drift report for a CSV batch against training")
    drift.add_argument("--data", type=Path, required=True, help="CSV with the feature columns")
    drift.add_argument("--artifacts", type=Path, help="artifacts folder (MLOPS_ARTIFACTS_DIR)")
    drift.add_argument("--version", help="model version whose predictions are tested")
    drift.add_argument("--json", action="store_true", help="print the report as JSON")
    drift.set_defaults(handler=run_drift)


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
