"""Unlimited drift-free data: a class-conditional Gaussian fitted to a labelled data set.

Rows are rounded to the data set's measurement resolution (0.1 cm for Iris) and kept positive,
so they look like real measurements; drifted variants are made by transforming these rows.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np
from numpy.typing import NDArray


@dataclass(frozen=True)
class ClassConditionalGaussian:
    means: NDArray[np.float64]  # (n_classes, n_features)
    covariances: NDArray[np.float64]  # (n_classes, n_features, n_features)
    priors: NDArray[np.float64]  # (n_classes,)
    resolution: float = 0.1

    @classmethod
    def fit(
        cls, features: NDArray[np.float64], labels: NDArray[np.int64], resolution: float = 0.1
    ) -> ClassConditionalGaussian:
        classes = np.unique(labels)
        means = np.array([features[labels == c].mean(axis=0) for c in classes])
        covariances = np.array([np.cov(features[labels == c], rowvar=False) for c in classes])
        priors = np.bincount(labels)[classes] / len(labels)
        return cls(means, covariances, priors.astype(np.float64), resolution)

    @property
    def overall_std(self) -> NDArray[np.float64]:
        """Standard deviation of each feature under the mixture (what "1 SD" means)."""
        mean = self.priors @ self.means
        within = np.einsum("c,cii->i", self.priors, self.covariances)
        between = self.priors @ (self.means - mean) ** 2
        return np.asarray(np.sqrt(within + between), dtype=np.float64)

    def sample(
        self, count: int, rng: np.random.Generator, priors: NDArray[np.float64] | None = None
    ) -> tuple[NDArray[np.float64], NDArray[np.int64]]:
        weights = self.priors if priors is None else np.asarray(priors, dtype=np.float64)
        labels = rng.choice(len(weights), size=count, p=weights / weights.sum())
        rows = np.empty((count, self.means.shape[1]))
        for label in np.unique(labels):
            mask = labels == label
            rows[mask] = rng.multivariate_normal(
                self.means[label], self.covariances[label], size=int(mask.sum())
            )
        rows = np.maximum(np.round(rows / self.resolution) * self.resolution, self.resolution)
        return rows, labels.astype(np.int64)


def shift_class(
    rows: NDArray[np.float64],
    labels: NDArray[np.int64],
    generator: ClassConditionalGaussian,
    shifted_class: int,
    columns: tuple[int, ...],
    sds: float,
) -> NDArray[np.float64]:
    """Rows of ``shifted_class`` moved by ``sds`` mixture standard deviations on ``columns``;
    labels stay: the relation between measurements and class has changed (concept drift)."""
    moved = rows.copy()
    mask = labels == shifted_class
    for column in columns:
        shifted = moved[mask, column] + sds * generator.overall_std[column]
        moved[mask, column] = np.round(shifted / generator.resolution) * generator.resolution
    return moved
