"""Mixed-type models: one named input per column, typed as ``serving.feed`` feeds them.

A scikit-learn ``Pipeline`` (preprocessing steps, then the estimator) is converted as
``training.typed_export`` converts a trained version, so imported and trained versions take the
same inputs and compute alike: the preprocessing on string and double inputs (an int64 or bool
input Cast in front), the numeric imputers as ``Where(IsNaN(x), fill, x)`` in float64, and the
estimator fed in the precision it reads (a forest's float32 rounding, a booster's float32).

Missing strings: serving feeds ``""`` (``serving.feed.MISSING_STRING``), where a pipeline fitted
on a pandas frame saw NaN. A string imputer whose marker is NaN is converted with ``""`` as its
marker, and the original model is given NaN for ``""`` in the parity check, so the check compares
the converted model with the original called as its authors call it.
"""

from __future__ import annotations

import copy
from typing import Any

import numpy as np

from mlops_pipeline.importing.common import ImportRefused
from mlops_pipeline.schema.model import FeatureSchema
from mlops_pipeline.serving.feed import MISSING_STRING


def _imputers(model: Any) -> list[Any]:
    from sklearn.impute import SimpleImputer

    from mlops_pipeline.importing.sklearn_model import leaf_steps

    return [step for _, step in leaf_steps(model) if isinstance(step, SimpleImputer)]


def _nan_marker(imputer: Any) -> bool:
    marker = imputer.missing_values
    return marker is None or (isinstance(marker, float) and np.isnan(marker))


def _on_strings(imputer: Any) -> bool:
    return np.asarray(imputer.statistics_).dtype == object


def missing_as_nan(model: Any) -> bool:
    """True unless the model marks a missing string with ``""`` itself (as versions trained
    here do): then the original is given NaN where serving feeds ``""``."""
    return not any(_on_strings(i) and i.missing_values == MISSING_STRING for i in _imputers(model))


def original_rows(model: Any, rows: Any) -> Any:
    """``rows`` (``training.preprocess.pipeline_frame``'s, ``""`` missing) as the original
    model reads them: NaN for a missing string, when the model expects NaN."""
    if not missing_as_nan(model):
        return rows
    strings = [name for name in rows.columns if rows[name].dtype == object]
    out = rows.copy()
    for name in strings:
        out[name] = out[name].where(out[name] != MISSING_STRING, np.nan)
    return out


def typed_pipeline_to_onnx(model: Any, schema: FeatureSchema) -> bytes:
    """The fitted ``Pipeline`` as ONNX with one input per schema column (see the module)."""
    from sklearn.pipeline import Pipeline

    from mlops_pipeline.training.typed_export import typed_to_onnx

    if not isinstance(model, Pipeline) or len(model.steps) < 2:
        strings = [c.name for c in schema.columns if c.type == "string"]
        raise ImportRefused(
            f"a model reading string columns ({strings})"
            " must be a Pipeline whose steps encode them (e.g. a ColumnTransformer with a"
            f" OneHotEncoder) in front of the estimator, not a bare {type(model).__name__}"
        )
    converted = copy.deepcopy(model)
    for imputer in _imputers(converted):
        if _on_strings(imputer) and _nan_marker(imputer):
            imputer.missing_values = MISSING_STRING
    steps = converted.steps
    front = steps[0][1] if len(steps) == 2 else Pipeline(steps[:-1])
    return typed_to_onnx(Pipeline([("preprocess", front), ("model", steps[-1][1])]), schema)


def feed(schema: FeatureSchema, frame: Any) -> dict[str, Any]:
    """The ONNX Runtime feed for rows as read (NaN missing), as the serving path builds it."""
    from mlops_pipeline.serving.feed import onnx_feed
    from mlops_pipeline.training.onnx_export import INPUT_NAME

    if schema.all_numeric:
        return {INPUT_NAME: frame[schema.names].to_numpy(dtype=np.float64)}
    return onnx_feed(schema, {name: frame[name].tolist() for name in schema.names})
