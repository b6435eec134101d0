"""Load a labelled tabular data set: Iris bundled with scikit-learn, or a user's CSV."""

from __future__ import annotations

import csv
import hashlib
import math
import re
from dataclasses import dataclass
from pathlib import Path

import numpy as np
from numpy.typing import NDArray


class DataError(ValueError):
    """The data set cannot be used for training; the message says why."""


class NotNumeric(DataError):
    """A feature value is not a finite number: the CSV may be typed data (training/typed_data)."""


@dataclass(frozen=True)
class Dataset:
    features: NDArray[np.float64]  # shape (rows, n_features)
    labels: NDArray[np.int64]  # class indices into class_names
    feature_names: tuple[str, ...]
    class_names: tuple[str, ...]
    source: str

    @property
    def n_features(self) -> int:
        return len(self.feature_names)

    def content_hash(self) -> str:
        """SHA-256 of the values, names and labels: the same data gives the same hash."""
        digest = hashlib.sha256()
        digest.update("\x1f".join(self.feature_names).encode())
        digest.update("\x1e".join(self.class_names).encode())
        digest.update(np.ascontiguousarray(self.features, dtype="<f8").tobytes())
        digest.update(np.ascontiguousarray(self.labels, dtype="<i8").tobytes())
        return digest.hexdigest()


def snake_case(name: str) -> str:
    """'sepal length (cm)' -> 'sepal_length': names users can type as JSON keys."""
    name = re.sub(r"\(.*?\)", "", name)
    return re.sub(r"[^0-9a-zA-Z]+", "_", name).strip("_").lower()


def load_iris_dataset() -> Dataset:
    from sklearn.datasets import load_iris  # heavy import: only when training

    bunch = load_iris()
    return Dataset(
        features=np.asarray(bunch.data, dtype=np.float64),
        labels=np.asarray(bunch.target, dtype=np.int64),
        feature_names=tuple(snake_case(name) for name in bunch.feature_names),
        class_names=tuple(str(name) for name in bunch.target_names),
        source="sklearn:iris",
    )


def load_csv_dataset(path: Path, target: str) -> Dataset:
    """Numeric feature columns plus one target column (numbers or class names)."""
    try:
        with path.open(newline="", encoding="utf-8") as handle:
            reader = csv.DictReader(handle)
            header = list(reader.fieldnames or [])
            rows = list(reader)
    except (OSError, UnicodeDecodeError, csv.Error) as exc:
        raise DataError(f"cannot read {path}: {exc}") from exc
    if target not in header:
        raise DataError(f"{path}: no target column {target!r}; columns are {header}")
    feature_columns = [column for column in header if column != target]
    if not feature_columns:
        raise DataError(f"{path}: no feature column besides {target!r}")
    if len(rows) < 10:
        raise DataError(f"{path}: {len(rows)} rows; at least 10 are needed to train and test")

    features = np.empty((len(rows), len(feature_columns)), dtype=np.float64)
    for row_number, row in enumerate(rows):
        for column_number, column in enumerate(feature_columns):
            features[row_number, column_number] = _parse_number(row.get(column), column, row_number)

    raw_labels = [(row.get(target) or "").strip() for row in rows]
    if any(label == "" for label in raw_labels):
        raise DataError(f"{path}: empty value in target column {target!r}")
    class_names = tuple(sorted(set(raw_labels), key=_label_sort_key))
    if len(class_names) < 2:
        raise DataError(f"{path}: target {target!r} has a single class")
    index = {name: position for position, name in enumerate(class_names)}
    labels = np.array([index[label] for label in raw_labels], dtype=np.int64)
    return Dataset(
        features=features,
        labels=labels,
        feature_names=tuple(
            snake_case(column) or f"feature_{i}" for i, column in enumerate(feature_columns)
        ),
        class_names=class_names,
        source=f"csv:{path.name}",
    )


def _parse_number(text: str | None, column: str, row_number: int) -> float:
    try:
        value = float((text or "").strip())
    except ValueError:
        raise NotNumeric(
            f"row {row_number + 2}, column {column!r}: {text!r} is not a number"
        ) from None
    if not math.isfinite(value):
        raise NotNumeric(f"row {row_number + 2}, column {column!r}: {text!r} is not finite")
    return value


def _label_sort_key(label: str) -> tuple[int, float, str]:
    # Numeric labels sort numerically (2 before 10), names alphabetically.
    try:
        return (0, float(label), label)
    except ValueError:
        return (1, 0.0, label)


@dataclass(frozen=True)
class FeatureRows:
    """Rows of a CSV read for scoring: the valid ones, and how many were not usable."""

    features: NDArray[np.float64]
    rejected: int


def load_feature_rows(path: Path, feature_names: tuple[str, ...]) -> FeatureRows:
    """Read the named feature columns (other columns are ignored); bad rows are counted."""
    try:
        with path.open(newline="", encoding="utf-8") as handle:
            reader = csv.DictReader(handle)
            columns = {snake_case(name): name for name in reader.fieldnames or []}
            missing = [name for name in feature_names if name not in columns]
            if missing:
                raise DataError(f"{path}: missing feature columns {missing}; found {list(columns)}")
            rows, rejected = [], 0
            for record in reader:
                try:
                    values = [float(record[columns[name]]) for name in feature_names]
                except (TypeError, ValueError):
                    rejected += 1
                    continue
                if all(math.isfinite(value) for value in values):
                    rows.append(values)
                else:
                    rejected += 1
    except (OSError, UnicodeDecodeError, csv.Error) as exc:
        raise DataError(f"cannot read {path}: {exc}") from exc
    features = np.array(rows, dtype=np.float64).reshape(len(rows), len(feature_names))
    return FeatureRows(features, rejected)
