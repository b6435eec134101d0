"""The preprocessing a typed model carries in front of its estimator, built from its schema.

One ``ColumnTransformer`` (what skl2onnx converts, so serving runs the same steps in ONNX):

- numbers (``double``, ``integer``, ``boolean`` as 0/1): required ones pass through, nullable
  ones go through ``SimpleImputer(median)``;
- each string column: ``SimpleImputer`` turning a missing value (fed as ``""``, see
  ``serving/feed.py``) into ``"missing"``, then ``OneHotEncoder`` over the schema's categories
  (plus ``"missing"`` when nullable), ``handle_unknown="ignore"``: a category never seen in
  training is answered, its one-hot block all zeros.

``pipeline_frame`` turns a data frame as read (NaN for missing) into what the pipeline is fitted
on, the same values ``onnx_feed`` gives the ONNX model, so the parity check compares like with like.
"""

from __future__ import annotations

from typing import Any

from mlops_pipeline.schema.model import FeatureSchema
from mlops_pipeline.serving.feed import MISSING_STRING

FILL_STRING = "missing"  # what a missing string becomes before one-hot encoding
NUMBERS, NULLABLE_NUMBERS = "numbers", "nullable_numbers"
# Estimators that need numbers on a common scale (an L2 penalty and lbfgs on grams and
# millimetres converge slowly and weigh features by their unit); trees do not.
SCALED_ALGORITHMS = frozenset({"logistic_regression"})


def build_preprocessor(schema: FeatureSchema, scale: bool = False) -> Any:
    from sklearn.compose import ColumnTransformer
    from sklearn.impute import SimpleImputer
    from sklearn.pipeline import Pipeline
    from sklearn.preprocessing import OneHotEncoder, StandardScaler

    def numbers(steps: list[tuple[str, Any]]) -> Any:
        if scale:
            steps = [*steps, ("scale", StandardScaler())]
        return Pipeline(steps) if steps else "passthrough"

    numeric = [c for c in schema.columns if c.type != "string"]
    required = [c.name for c in numeric if not c.nullable]
    nullable = [c.name for c in numeric if c.nullable]
    transformers: list[tuple[str, Any, list[str]]] = []
    if required:
        transformers.append((NUMBERS, numbers([]), required))
    if nullable:
        imputer = SimpleImputer(strategy="median", keep_empty_features=True)
        transformers.append((NULLABLE_NUMBERS, numbers([("impute", imputer)]), nullable))
    for column in schema.columns:
        if column.type != "string":
            continue
        categories = list(column.categories)
        if column.nullable and FILL_STRING not in categories:
            categories.append(FILL_STRING)
        strings = Pipeline(
            [
                (
                    "impute",
                    SimpleImputer(
                        missing_values=MISSING_STRING, strategy="constant", fill_value=FILL_STRING
                    ),
                ),
                (
                    "one_hot",
                    OneHotEncoder(
                        categories=[categories], handle_unknown="ignore", sparse_output=False
                    ),
                ),
            ]
        )
        transformers.append((f"string_{column.name}", strings, [column.name]))
    # sparse_threshold=0: a dense output, what the ONNX graph computes anyway.
    return ColumnTransformer(transformers, sparse_threshold=0.0)


def build_pipeline(schema: FeatureSchema, estimator: Any, algorithm: str = "") -> Any:
    from sklearn.pipeline import Pipeline

    preprocess = build_preprocessor(schema, scale=algorithm in SCALED_ALGORITHMS)
    return Pipeline([("preprocess", preprocess), ("model", estimator)])


def pipeline_frame(schema: FeatureSchema, frame: Any) -> Any:
    """The schema's columns of ``frame`` as the pipeline reads them: numbers as float64 (NaN
    missing, booleans 0/1), strings as Python objects (``""`` missing)."""
    import pandas as pd

    columns: dict[str, Any] = {}
    for column in schema.columns:
        values = frame[column.name]
        if column.type == "string":
            texts = values.astype(object).where(values.notna(), MISSING_STRING)
            columns[column.name] = texts.map(str).astype(object)
        elif values.dtype == object:
            # A boolean column with missing values is read as objects (True/False/NaN).
            columns[column.name] = pd.to_numeric(values.map(_as_number)).astype("float64")
        else:
            columns[column.name] = values.astype("float64")
    return pd.DataFrame(columns, index=frame.index)


def _as_number(value: Any) -> Any:
    return float(value) if isinstance(value, bool) else value
