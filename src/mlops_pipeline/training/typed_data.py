"""A mixed-type training CSV (numbers, booleans, strings, missing values) and its schema.

Read with pandas: an empty cell or pandas' usual markers (``NA``, ``NaN``, ``null``...) are
missing. Column names are kept as written in the header: they are the names clients send.
Types, nullability, categories and the class names are ``schema.infer``'s, overridable per
column from the versions file (its ``[columns.<name>]`` tables).
"""

from __future__ import annotations

import hashlib
from collections.abc import Mapping
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np
from numpy.typing import NDArray

from mlops_pipeline.schema.model import FeatureSchema, SchemaError
from mlops_pipeline.training.data import DataError

MIN_ROWS = 10


@dataclass(frozen=True)
class TypedDataset:
    frame: Any  # pandas.DataFrame of the schema's columns as read (NaN where missing)
    labels: NDArray[np.int64]  # class indices into schema.task.classes
    schema: FeatureSchema
    source: str
    sha256: str  # of the CSV file's bytes

    @property
    def class_names(self) -> tuple[str, ...]:
        return self.schema.task.classes


def load_typed_csv(
    path: Path, target: str, overrides: Mapping[str, Mapping[str, object]] | None = None
) -> TypedDataset:
    """The CSV and its schema (``schema.infer.infer_schema``, then ``overrides`` per column);
    rows without a label are dropped, as the schema's task leaves them out of its classes."""
    import pandas as pd

    from mlops_pipeline.schema.infer import infer_schema, typed_values

    try:
        data = path.read_bytes()
        frame = pd.read_csv(path, encoding="utf-8")
    except (OSError, UnicodeDecodeError, ValueError) as exc:
        raise DataError(f"cannot read {path}: {exc}") from exc
    if target not in frame.columns:
        raise DataError(f"{path}: no target column {target!r}; columns are {list(frame.columns)}")
    if len(frame.columns) < 2:
        raise DataError(f"{path}: no feature column besides {target!r}")
    try:
        schema = infer_schema(frame, target, overrides=overrides)
    except SchemaError as exc:
        raise DataError(f"{path}: {exc}") from exc
    frame = frame[frame[target].notna()].reset_index(drop=True)
    if len(frame) < MIN_ROWS:
        raise DataError(f"{path}: {len(frame)} labelled rows; at least {MIN_ROWS} are needed")
    # The class names are the target's values as text (infer_task): each row's index follows.
    index = {name: position for position, name in enumerate(schema.task.classes)}
    labels = np.array([index[str(value)] for value in frame.pop(target).tolist()], dtype=np.int64)
    for column in schema.columns:
        if column.type == "string" and not pd.api.types.is_string_dtype(frame[column.name]):
            # A column of numbers typed string by an override: "1", as the schema lists it.
            values = frame[column.name]
            typed = pd.Series(None, index=frame.index, dtype=object)
            typed[values.notna()] = typed_values(column.name, values.dropna(), "string")
            frame[column.name] = typed
    return TypedDataset(
        frame=frame[schema.names],
        labels=labels,
        schema=schema,
        source=f"csv:{path.name}",
        sha256=hashlib.sha256(data).hexdigest(),
    )
