"""CSV batches: validation with clear messages, and results as a table."""

from __future__ import annotations

import io
import math
from dataclasses import dataclass

import pandas as pd


@dataclass(frozen=True)
class ParsedBatch:
    rows: list[list[float]]
    frame: pd.DataFrame


class BatchError(ValueError):
    pass


def parse_batch_csv(text: str, feature_names: list[str], max_rows: int = 10_000) -> ParsedBatch:
    """The feature columns of a CSV (matched by name, extra columns kept aside)."""
    try:
        frame = pd.read_csv(io.StringIO(text))
    except (pd.errors.ParserError, pd.errors.EmptyDataError, UnicodeDecodeError) as exc:
        raise BatchError(f"This is not a readable CSV file: {exc}") from None
    frame.columns = [str(column).strip() for column in frame.columns]
    missing = [name for name in feature_names if name not in frame.columns]
    if missing:
        raise BatchError(
            f"Missing columns: {', '.join(missing)}. The file needs a header with"
            f" {', '.join(feature_names)}; found {', '.join(frame.columns) or 'no columns'}."
        )
    if frame.empty:
        raise BatchError("The file has a header but no rows.")
    if len(frame) > max_rows:
        raise BatchError(f"The file has {len(frame)} rows; at most {max_rows} fit one batch.")
    values = frame[feature_names].apply(pd.to_numeric, errors="coerce")
    bad = values.isna() | values.map(lambda v: not math.isfinite(v) if pd.notna(v) else False)
    if bad.to_numpy().any():
        row, column = next(zip(*bad.to_numpy().nonzero(), strict=True))
        raise BatchError(
            f"Row {int(row) + 1}, column {feature_names[int(column)]}:"
            f" {frame.iloc[int(row)][feature_names[int(column)]]!r} is not a number."
        )
    return ParsedBatch(values.to_numpy(dtype=float).tolist(), frame)
