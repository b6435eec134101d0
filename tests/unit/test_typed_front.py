"""training/typed_front.py: the compact ONNX preprocessing computes what the fitted
ColumnTransformer computes, value for value, and declines any other ColumnTransformer."""

from __future__ import annotations

import math
from typing import Any

import numpy as np
import onnx
import onnxruntime
import pandas as pd
import pytest
from sklearn.compose import ColumnTransformer
from sklearn.impute import SimpleImputer
from sklearn.linear_model import LogisticRegression
from sklearn.preprocessing import OneHotEncoder

from mlops_pipeline.serving.feed import onnx_feed
from mlops_pipeline.training.onnx_export import TARGET_OPSET
from mlops_pipeline.training.preprocess import build_preprocessor, pipeline_frame
from mlops_pipeline.training.typed_export import typed_to_onnx
from mlops_pipeline.training.typed_front import front_graph
from tests.support.schemas import EVERY_TYPE

SCHEMA = EVERY_TYPE
TRAIN = pd.DataFrame(
    {
        "island": ["Biscoe", "Dream", "Torgersen", "Dream", "Biscoe", "Torgersen"],
        "sex": ["female", None, "male", "male", "female", None],
        "bill": [39.1, math.nan, 40.3, 36.7, 42.0, 38.9],
        "mass": [3750.0, 3800.0, 3250.0, 3450.0, 4100.0, 3900.0],
        "year": [2007, 2008, 2009, 2007, 2008, 2009],
        "rings": [1.0, math.nan, 3.0, 2.0, math.nan, 5.0],
        "tagged": [True, False, True, False, True, False],
        "banded": [True, None, False, False, True, None],
    }
)
# Unseen islands, a literal "missing", an empty string (how a missing string is fed), NaNs.
SERVED = pd.DataFrame(
    {
        "island": ["Atlantis", "", "missing", "Dream"],
        "sex": ["missing", None, "", "unknown"],
        "bill": [math.nan, 1e300, -0.0, 37.5],
        "mass": [1.0, 2.0, 3.0, 4.0],
        "year": [2000, 2001, 2002, 2003],
        "rings": [math.nan, 7.0, 0.0, 1.0],
        "tagged": [False, True, False, True],
        "banded": [None, True, False, None],
    }
)


def fitted(scale: bool) -> Any:
    return build_preprocessor(SCHEMA, scale=scale).fit(pipeline_frame(SCHEMA, TRAIN))


def front_output(model: Any, frame: pd.DataFrame) -> Any:
    session = onnxruntime.InferenceSession(
        model.SerializeToString(), providers=["CPUExecutionProvider"]
    )
    # The front takes doubles for every number (typed_export casts int64/bool in front of it).
    feed = onnx_feed(SCHEMA, {name: frame[name].tolist() for name in SCHEMA.names})
    doubles = {k: v.astype(np.float64) if v.dtype != object else v for k, v in feed.items()}
    return session.run(None, doubles)[0]


@pytest.mark.parametrize("scale", [False, True])
def test_the_compact_front_equals_the_column_transformer(scale: bool) -> None:
    preprocess = fitted(scale)
    model = front_graph(preprocess, SCHEMA, TARGET_OPSET)
    assert model is not None
    onnx.checker.check_model(model)
    for frame in (TRAIN, SERVED):
        expected = preprocess.transform(pipeline_frame(SCHEMA, frame))
        got = front_output(model, frame)
        assert got.dtype == np.float64
        np.testing.assert_array_equal(got, expected)  # the same arithmetic, bit for bit


def test_the_compact_front_has_fewer_nodes_than_skl2onnx_gave() -> None:
    model = front_graph(fitted(False), SCHEMA, TARGET_OPSET)
    assert model is not None
    # Two string columns: 7 + 5 nodes each through skl2onnx; here 2 each plus 3 shared.
    assert len(model.graph.node) <= 12


def test_a_whole_typed_pipeline_answers_as_scikit_learn_does() -> None:
    from sklearn.pipeline import Pipeline

    frame = pipeline_frame(SCHEMA, TRAIN)
    pipeline = Pipeline(
        [("preprocess", build_preprocessor(SCHEMA, scale=True)), ("model", LogisticRegression())]
    ).fit(frame, ["a", "b", "a", "b", "a", "b"])
    session = onnxruntime.InferenceSession(
        typed_to_onnx(pipeline, SCHEMA), providers=["CPUExecutionProvider"]
    )
    feed = onnx_feed(SCHEMA, {name: SERVED[name].tolist() for name in SCHEMA.names})
    _, probabilities = session.run(None, feed)
    expected = pipeline.predict_proba(pipeline_frame(SCHEMA, SERVED))
    assert np.max(np.abs(probabilities - expected)) < 1e-6


def foreign(**one_hot: Any) -> ColumnTransformer:
    strings = OneHotEncoder(**{"handle_unknown": "ignore", "sparse_output": False, **one_hot})
    transformer = ColumnTransformer(
        [("string_island", strings, ["island"]), ("numbers", "passthrough", ["mass"])]
    )
    return transformer.fit(TRAIN[["island", "mass"]])


@pytest.mark.parametrize(
    "transformer",
    [
        pytest.param(foreign(), id="one-hot without the imputer"),
        pytest.param(foreign(handle_unknown="error"), id="unknown categories refused"),
        pytest.param(
            ColumnTransformer([("nullable_numbers", SimpleImputer(strategy="mean"), ["bill"])]).fit(
                TRAIN[["bill"]]
            ),
            id="mean imputer, not in a pipeline",
        ),
        pytest.param(
            ColumnTransformer([("numbers", "passthrough", ["mass"])], remainder="passthrough").fit(
                TRAIN[["mass", "bill"]]
            ),
            id="remainder passed through",
        ),
    ],
)
def test_any_other_column_transformer_is_left_to_skl2onnx(transformer: Any) -> None:
    assert front_graph(transformer, SCHEMA, TARGET_OPSET) is None
