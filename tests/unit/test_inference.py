"""The compiled model answers exactly as scikit-learn does."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest

from mlops_pipeline.artifacts import ArtifactBundle, load_skops
from mlops_pipeline.serving.inference import OnnxPredictor
from mlops_pipeline.training.data import Dataset
from mlops_pipeline.training.onnx_export import spanning_points
from mlops_pipeline.training.trainer import split_dataset


@pytest.fixture(scope="module", params=["v1", "v2"])
def pair(request: pytest.FixtureRequest, artifacts_dir: Path, bundle: ArtifactBundle):  # type: ignore[no-untyped-def]
    version = request.param
    return (
        load_skops(artifacts_dir / version / "model.skops"),
        OnnxPredictor(version, bundle.versions[version].onnx_bytes),
    )


def assert_same_answers(pair, features: np.ndarray) -> None:  # type: ignore[no-untyped-def]
    model, predictor = pair
    classes, probabilities = predictor.predict(features)
    np.testing.assert_array_equal(classes, model.predict(features))
    assert np.max(np.abs(probabilities - model.predict_proba(features))) <= 1e-5


def test_parity_on_the_test_split(pair, iris: Dataset) -> None:  # type: ignore[no-untyped-def]
    assert_same_answers(pair, split_dataset(iris, 0.2, 42).test_x)


def test_parity_on_10000_points_spanning_1_5x_the_training_range(pair, iris: Dataset) -> None:  # type: ignore[no-untyped-def]
    train_x = split_dataset(iris, 0.2, 42).train_x
    points = spanning_points(train_x, 10_000, seed=123)
    span = points.max(axis=0) - points.min(axis=0)
    assert np.all(span > 1.45 * (train_x.max(axis=0) - train_x.min(axis=0)))
    assert_same_answers(pair, points)


def test_parity_on_threshold_midpoints(pair, iris: Dataset) -> None:  # type: ignore[no-untyped-def]
    # Iris is measured to 0.1 cm, so split thresholds sit at x.x5: the hardest inputs to match.
    rng = np.random.default_rng(5)
    points = np.round(rng.uniform(0, 8, size=(5_000, 4)) * 20) / 20
    assert_same_answers(pair, points)


def test_predictor_reports_its_input_width(bundle: ArtifactBundle) -> None:
    predictor = OnnxPredictor("v1", bundle.versions["v1"].onnx_bytes)
    assert predictor.n_features == 4
    classes, probabilities = predictor.predict(np.array([[5.1, 3.5, 1.4, 0.2]]))
    assert classes.tolist() == [0]
    assert probabilities.shape == (1, 3)


def test_the_session_runs_natively_and_its_answers_equal_the_wrappers(
    bundle: ArtifactBundle,
) -> None:
    # The predictor skips onnxruntime's Python check of the feed's names (its feed always
    # holds exactly the model's inputs). If a release drops ``_sess``, the fallback is the
    # wrapper: this test says so rather than let every request silently pay the check again.
    predictor = OnnxPredictor("v1", bundle.versions["v1"].onnx_bytes)
    native = predictor._session._sess
    assert predictor._session_run == native.run
    rows = np.array([[5.1, 3.5, 1.4, 0.2], [6.7, 3.0, 5.2, 2.3]])
    classes, probabilities = predictor.predict(rows)
    expected = predictor._session.run(None, {"input": rows.astype(np.float32).astype(np.float64)})
    assert classes.tolist() == expected[0].tolist()
    np.testing.assert_array_equal(probabilities, expected[1])
    # ORT's native side still refuses a feed without the model's input.
    with pytest.raises(Exception, match="input"):
        native.run(["label"], {}, None)
