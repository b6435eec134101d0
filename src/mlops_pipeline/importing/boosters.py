"""XGBoost booster files (JSON or UBJ) and LightGBM text models, converted by onnxmltools.

Both formats are the libraries' own model descriptions (trees and parameters as data), so
reading them runs no user code. A booster reads a float matrix: its schema is all-numeric, and
its converted graph computes in float32 as the booster does, behind a Cast from the served
float64 ``input``. A booster stores no class names, only their count.
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

import numpy as np

from mlops_pipeline.importing.common import (
    ImportRefused,
    Source,
    float_input,
    probabilities,
    unnamed,
)
from mlops_pipeline.schema.model import FeatureSchema
from mlops_pipeline.training.onnx_export import INPUT_NAME, TARGET_OPSET

# onnxmltools converts to at most opset 15 (skl2onnx exports use 17); ONNX Runtime runs both.
_ONNXMLTOOLS_OPSET = min(TARGET_OPSET[""], 15)


def _numeric_only(schema: FeatureSchema, what: str) -> None:
    if not schema.all_numeric:
        kinds = [f"{c.name!r} ({c.type})" for c in schema.columns if c.type == "string"]
        raise ImportRefused(
            f"{what} reads numbers only; the schema has non-numeric or nullable columns {kinds}"
        )


def _float_tensor(width: int) -> list[tuple[str, Any]]:
    from onnxmltools.convert.common.data_types import FloatTensorType

    return [(INPUT_NAME, FloatTensorType([None, width]))]


def read_xgboost(path: Path, source_format: str) -> Source:
    import xgboost

    try:
        booster = xgboost.Booster(model_file=str(path))
    except xgboost.core.XGBoostError as exc:
        raise ImportRefused(f"{path} is not a readable XGBoost model: {exc}") from exc
    config = booster.save_config()
    objective = _xgboost_objective(config)
    if not objective.startswith(("multi:softprob", "multi:softmax", "binary:logistic")):
        raise ImportRefused(
            f"{path}: XGBoost objective {objective!r} is not a classifier with probabilities"
            " (multi:softprob or binary:logistic)"
        )
    n_classes = max(2, int(booster.attr("num_class") or _xgboost_classes(config)))
    names = booster.feature_names

    def predict_proba(frame: Any) -> Any:
        matrix = xgboost.DMatrix(frame.to_numpy(dtype=np.float32), feature_names=names)
        return probabilities(booster.predict(matrix), n_classes)

    def to_onnx(schema: FeatureSchema) -> bytes:
        from onnxmltools import convert_xgboost

        _numeric_only(schema, "an XGBoost booster")
        # The converter reads features by position and wants XGBoost's default names.
        unnamed_copy = booster.copy()
        unnamed_copy.feature_names = None
        model = convert_xgboost(
            unnamed_copy, initial_types=_float_tensor(len(schema.columns)),
            target_opset=_ONNXMLTOOLS_OPSET,
        )  # fmt: skip
        float_input(model)
        return bytes(model.SerializeToString())

    return Source(
        source_format=source_format,
        algorithm=f"xgboost.Booster({objective})",
        n_classes=n_classes,
        predict_proba=predict_proba,
        to_onnx=to_onnx,
        feature_names=None if unnamed(list(names or ())) else tuple(names or ()),
        libraries=("xgboost", "onnxmltools", "onnx"),
    )


def _xgboost_objective(config: str) -> str:
    import json

    return str(json.loads(config)["learner"]["objective"]["name"])


def _xgboost_classes(config: str) -> int:
    import json

    return int(json.loads(config)["learner"]["learner_model_param"].get("num_class", 0) or 0)


def read_lightgbm(path: Path) -> Source:
    import lightgbm

    try:
        booster = lightgbm.Booster(model_file=str(path))
    except lightgbm.basic.LightGBMError as exc:
        raise ImportRefused(f"{path} is not a readable LightGBM model: {exc}") from exc
    objective = str(booster.params.get("objective", booster.dump_model()["objective"]))
    if not objective.startswith(("multiclass", "binary")):
        raise ImportRefused(
            f"{path}: LightGBM objective {objective!r} is not a classifier (multiclass or binary)"
        )
    n_classes = max(2, int(booster.dump_model()["num_class"]))
    names = booster.feature_name()

    def predict_proba(frame: Any) -> Any:
        return probabilities(booster.predict(frame.to_numpy(dtype=np.float64)), n_classes)

    def to_onnx(schema: FeatureSchema) -> bytes:
        from onnxmltools import convert_lightgbm

        _numeric_only(schema, "a LightGBM booster")
        model = convert_lightgbm(
            booster, initial_types=_float_tensor(len(schema.columns)), zipmap=False,
            target_opset=_ONNXMLTOOLS_OPSET,
        )  # fmt: skip
        float_input(model)
        return bytes(model.SerializeToString())

    return Source(
        source_format="lightgbm-text",
        algorithm=f"lightgbm.Booster({objective})",
        n_classes=n_classes,
        predict_proba=predict_proba,
        to_onnx=to_onnx,
        feature_names=None if unnamed(names) else tuple(names),
        libraries=("lightgbm", "onnxmltools", "onnx"),
    )
