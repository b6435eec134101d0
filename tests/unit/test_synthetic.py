from __future__ import annotations

import numpy as np
import pytest

from mlops_pipeline.training.data import Dataset
from mlops_pipeline.training.synthetic import ClassConditionalGaussian


@pytest.fixture(scope="module")
def generator(iris: Dataset) -> ClassConditionalGaussian:
    return ClassConditionalGaussian.fit(iris.features, iris.labels)


def test_fit_recovers_class_means_and_priors(
    generator: ClassConditionalGaussian, iris: Dataset
) -> None:
    assert generator.priors == pytest.approx([1 / 3] * 3)
    assert generator.means[0] == pytest.approx(iris.features[iris.labels == 0].mean(axis=0))


def test_samples_are_rounded_positive_measurements(generator: ClassConditionalGaussian) -> None:
    rows, labels = generator.sample(5_000, np.random.default_rng(1))
    assert rows.shape == (5_000, 4)
    assert np.allclose(rows * 10, np.round(rows * 10))
    assert rows.min() >= 0.1
    assert set(np.unique(labels)) == {0, 1, 2}


def test_overall_std_matches_a_large_sample(generator: ClassConditionalGaussian) -> None:
    rows, _ = generator.sample(100_000, np.random.default_rng(2))
    # Rounding to 0.1 adds variance 0.1^2/12; the mixture sd is about 0.43-1.76.
    assert rows.std(axis=0) == pytest.approx(generator.overall_std, rel=0.03)


def test_priors_can_be_changed_per_sample(generator: ClassConditionalGaussian) -> None:
    _, labels = generator.sample(10_000, np.random.default_rng(3), priors=np.array([0.6, 0.2, 0.2]))
    assert np.bincount(labels) / 10_000 == pytest.approx([0.6, 0.2, 0.2], abs=0.02)


def test_same_seed_same_rows(generator: ClassConditionalGaussian) -> None:
    first, _ = generator.sample(50, np.random.default_rng(9))
    second, _ = generator.sample(50, np.random.default_rng(9))
    assert np.array_equal(first, second)
