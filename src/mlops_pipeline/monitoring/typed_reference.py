"""What typed drift compares: the training rows of a typed schema, and a window of live rows.

Built from training_stats.json's ``typed_sample`` (the training rows column by column, JSON null
where missing; training/typed_trainer.py) rather than its summary shares: the string and missing
tests compare two samples, so they need the training counts, not only the proportions.
Booleans are compared as two categories, ``"false"`` and ``"true"``.
"""

from __future__ import annotations

from collections import Counter
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from typing import Any

import numpy as np
from numpy.typing import NDArray

from mlops_pipeline.monitoring.drift import RANGE_MARGIN, Reference, smoothed_shares
from mlops_pipeline.schema.model import FeatureSchema

NUMERIC = ("double", "integer")


def category(value: Any) -> str:
    """A string or boolean value as the category it counts under."""
    return ("true" if value else "false") if isinstance(value, bool) else str(value)


@dataclass(frozen=True)
class TypedReference:
    schema: FeatureSchema
    numbers: Mapping[str, NDArray[np.float64]]  # numeric columns: present training values
    low: Mapping[str, float]  # numeric columns: values below count as bad
    high: Mapping[str, float]
    counts: Mapping[str, Mapping[str, int]]  # string/boolean columns: category -> rows
    missing: Mapping[str, tuple[int, int]]  # nullable columns: (missing rows, rows)
    class_shares: Mapping[str, NDArray[np.float64]]  # per version: out-of-fold predicted shares
    # Rows the class shares were measured on: the class test compares two samples' counts.
    rows: int

    @property
    def feature_names(self) -> tuple[str, ...]:
        return tuple(self.schema.names)

    @property
    def class_names(self) -> tuple[str, ...]:
        return self.schema.task.classes

    @classmethod
    def from_training_stats(cls, stats: Mapping[str, Any]) -> TypedReference:
        sample = stats.get("typed_sample")
        if sample is None:
            raise ValueError("training statistics hold no typed reference sample (too many rows)")
        schema = FeatureSchema.from_json(stats["schema"])
        numbers, low, high, counts, missing = {}, {}, {}, {}, {}
        for column in schema.columns:
            values = sample[column.name]
            present = [value for value in values if value is not None]
            if column.nullable:
                missing[column.name] = (len(values) - len(present), len(values))
            if column.type in NUMERIC:
                array = np.asarray(present, dtype=np.float64)
                numbers[column.name] = array
                if len(array):
                    margin = RANGE_MARGIN * float(np.ptp(array))
                    low[column.name] = float(array.min()) - margin
                    high[column.name] = float(array.max()) + margin
            else:
                counts[column.name] = dict(Counter(map(category, present)))
        n_rows, n_classes = int(stats["n_rows"]), len(schema.task.classes)
        shares = {
            version: smoothed_shares(np.asarray(values) * n_rows, n_classes)
            for version, values in stats["predicted_class_shares"].items()
        }
        # A retrained candidate's shares are measured on its holdout, not its training rows.
        rows = int(stats.get("predicted_class_rows", n_rows))
        return cls(schema, numbers, low, high, counts, missing, shares, rows)


@dataclass(frozen=True)
class TypedWindow:
    """The newest answered rows by column (None where missing), plus inputs rejected meanwhile."""

    columns: Mapping[str, Sequence[Any]]
    predictions: NDArray[np.int64]
    versions: Sequence[str]
    rejected: int = 0

    @property
    def size(self) -> int:
        return len(self.predictions)

    @classmethod
    def from_rows(
        cls,
        names: Sequence[str],
        rows: Sequence[Mapping[str, Any]],
        predictions: NDArray[np.int64],
        versions: Sequence[str],
        rejected: int = 0,
    ) -> TypedWindow:
        """From logged rows (objects by column name); a column an old row lacks is missing."""
        columns = {name: [row.get(name) for row in rows] for name in names}
        return cls(columns, predictions, versions, rejected)


def reference_from_stats(stats: Mapping[str, Any]) -> Reference | TypedReference:
    """The reference a bundle's training statistics describe: typed when training wrote typed
    rows (a mixed-type schema), today's float rows otherwise."""
    if "typed_sample" in stats:
        return TypedReference.from_training_stats(stats)
    return Reference.from_training_stats(stats)
