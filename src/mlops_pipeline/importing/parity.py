"""The rows an import is checked on, and the check: the converted model must answer them as the
original does, within today's export tolerance, or the import is refused naming the row."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import numpy as np

from mlops_pipeline.importing.common import ImportRefused, Source
from mlops_pipeline.schema.model import FeatureSchema
from mlops_pipeline.training.onnx_export import PARITY_TOLERANCE

GENERATED_ROWS = 200
SEED = 0
MISSING_SHARE = 0.1  # of a nullable column's generated values


def read_sample(path: Path, schema: FeatureSchema) -> Any:
    """The schema's columns of a CSV (others, such as the target, are left out)."""
    import pandas as pd

    try:
        frame = pd.read_csv(path)
    except (OSError, ValueError) as exc:
        raise ImportRefused(f"sample {path}: {exc}") from exc
    absent = [name for name in schema.names if name not in frame.columns]
    if absent:
        raise ImportRefused(f"sample {path} has no column {absent[0]!r} (columns {absent})")
    if len(frame) == 0:
        raise ImportRefused(f"sample {path} has no rows")
    return frame[schema.names]


def generated_sample(
    schema: FeatureSchema, stats: dict[str, Any], rows: int = GENERATED_ROWS
) -> Any:
    """Rows from the schema alone: numbers from a seeded normal (around the served training
    mean and spread when known, around 0 otherwise), categories and booleans drawn evenly."""
    import pandas as pd

    rng = np.random.default_rng(SEED)
    known = stats.get("features", {})
    columns: dict[str, Any] = {}
    for column in schema.columns:
        if column.type == "string":
            values: Any = rng.choice(list(column.categories) or ["value"], size=rows)
            values = values.astype(object)
        elif column.type == "boolean":
            values = rng.random(rows) < 0.5
        else:
            spread = known.get(column.name, {})
            values = rng.normal(spread.get("mean", 0.0), spread.get("std", 1.0) or 1.0, rows)
            if column.type == "integer":
                values = np.round(values).astype(np.int64)
        if column.nullable:
            values = pd.Series(values, dtype=object)
            values[rng.random(rows) < MISSING_SHARE] = None
        columns[column.name] = values
    return pd.DataFrame(columns)


def check_parity(
    source: Source, onnx_bytes: bytes, schema: FeatureSchema, frame: Any, where: str
) -> dict[str, Any]:
    """The parity figures on ``frame``; ImportRefused naming the worst row when they fail."""
    import onnxruntime

    from mlops_pipeline.importing.typed import feed
    from mlops_pipeline.training.preprocess import pipeline_frame

    session = onnxruntime.InferenceSession(onnx_bytes, providers=["CPUExecutionProvider"])
    labels, answered = session.run(None, feed(schema, frame))
    expected = source.predict_proba(pipeline_frame(schema, frame))
    answered = np.asarray(answered, dtype=np.float64)
    if answered.shape != expected.shape:
        raise ImportRefused(
            f"parity: the ONNX model answers probabilities of shape {list(answered.shape)},"
            f" the original {list(expected.shape)}"
        )
    per_row = np.abs(answered - expected).max(axis=1)
    worst = int(np.argmax(per_row))
    if per_row[worst] > PARITY_TOLERANCE:
        raise ImportRefused(_row_message(frame, worst, where, f"its probabilities differ from"
                            f" the original's by {per_row[worst]:.3g} (tolerance"
                            f" {PARITY_TOLERANCE:g})"))  # fmt: skip
    # A near tie may fall either way in float32; every other row must pick the same class.
    top_two = np.sort(expected, axis=1)[:, -2:]
    decided = (top_two[:, 1] - top_two[:, 0]) > PARITY_TOLERANCE
    disagree = np.flatnonzero(decided & (np.asarray(labels) != np.argmax(expected, axis=1)))
    if len(disagree):
        row = int(disagree[0])
        raise ImportRefused(_row_message(frame, row, where, f"it answers class {labels[row]},"
                            f" the original {int(np.argmax(expected[row]))}"))  # fmt: skip
    return {
        "rows": len(frame),
        "on": where,
        "class_agreement": float(np.mean(np.asarray(labels) == np.argmax(expected, axis=1))),
        "max_probability_diff": float(per_row[worst]),
        "tolerance": PARITY_TOLERANCE,
    }


def _row_message(frame: Any, row: int, where: str, what: str) -> str:
    values = {name: frame.iloc[row][name] for name in frame.columns}
    shown = ", ".join(f"{name}={_value(value)}" for name, value in list(values.items())[:12])
    return f"parity failure on row {row} of the {where} ({shown}): {what}"


def _value(value: object) -> str:
    return f"{value:.6g}" if isinstance(value, float | np.floating) else repr(value)
