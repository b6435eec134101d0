"""Compile a fitted scikit-learn classifier to ONNX, and measure that it answers the same."""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

import numpy as np
from numpy.typing import NDArray

from mlops_pipeline.serving.inference import OnnxPredictor

INPUT_NAME = "input"
# ai.onnx.ml opset 3 keeps tree thresholds in float64, so the compiled trees compare exactly as
# scikit-learn's do (it casts inputs to float32 and compares against float64 thresholds).
TARGET_OPSET = {"": 17, "ai.onnx.ml": 3}
# Largest |probability difference| an export may show against scikit-learn on the rows checked.
PARITY_TOLERANCE = 1e-5


@dataclass(frozen=True)
class Parity:
    rows: int
    class_agreement: float
    max_probability_diff: float


def to_onnx(model: Any, n_features: int) -> bytes:
    from skl2onnx import convert_sklearn
    from skl2onnx.common.data_types import DoubleTensorType, FloatTensorType

    from mlops_pipeline.training.estimators import (
        estimator_precision,
        register_boosting_converters,
    )

    register_boosting_converters()  # a catalogued XGBoost or LightGBM version converts too
    in_float = estimator_precision(model) == "float"
    tensor = FloatTensorType if in_float else DoubleTensorType
    onnx_model = convert_sklearn(
        model,
        initial_types=[(INPUT_NAME, tensor([None, n_features]))],
        options={id(model): {"zipmap": False}},
        target_opset=TARGET_OPSET,
    )
    if in_float:  # converters that compute in float32: callers still feed float64 rows
        _cast_input(onnx_model)
    return bytes(onnx_model.SerializeToString())


def _cast_input(model: Any) -> None:
    """Retype the float32 input as float64 and cast it to float32 in front of the graph."""
    from onnx import TensorProto, helper

    inner = f"{INPUT_NAME}_float32"
    for node in model.graph.node:
        node.input[:] = [inner if name == INPUT_NAME else name for name in node.input]
    model.graph.input[0].type.tensor_type.elem_type = TensorProto.DOUBLE
    cast = helper.make_node("Cast", [INPUT_NAME], [inner], to=TensorProto.FLOAT, name="to_float")
    nodes = [cast, *model.graph.node]
    del model.graph.node[:]
    model.graph.node.extend(nodes)


def measure_parity(model: Any, predictor: OnnxPredictor, features: NDArray[np.float64]) -> Parity:
    expected_classes = model.predict(features)
    expected_probabilities = model.predict_proba(features)
    classes, probabilities = predictor.predict(features)
    return Parity(
        rows=len(features),
        class_agreement=float(np.mean(classes == expected_classes)),
        max_probability_diff=float(np.max(np.abs(probabilities - expected_probabilities))),
    )


def spanning_points(
    features: NDArray[np.float64], count: int, seed: int, stretch: float = 1.5
) -> NDArray[np.float64]:
    """Uniform random points over ``stretch`` times the range of each feature, centred."""
    low, high = features.min(axis=0), features.max(axis=0)
    centre, half_width = (low + high) / 2, (high - low) * stretch / 2
    rng = np.random.default_rng(seed)
    return rng.uniform(centre - half_width, centre + half_width, size=(count, features.shape[1]))
