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


@dataclass(frozen=True)
class Parity:
    rows: int
    class_agreement: float
    max_probability_diff: float


def to_onnx(model: Any, n_features: int) -> bytes:
    from skl2onnx import convert_sklearn
    from skl2onnx.common.data_types import DoubleTensorType

    onnx_model = convert_sklearn(
        model,
        initial_types=[(INPUT_NAME, DoubleTensorType([None, n_features]))],
        options={id(model): {"zipmap": False}},
        target_opset=TARGET_OPSET,
    )
    return bytes(onnx_model.SerializeToString())


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
