"""Drift is measured against the champion's own data: the artifacts' while a trained version
leads, a registered version's stored reference once it takes the most traffic."""

from __future__ import annotations

from typing import Any

import numpy as np
import pytest

from mlops_pipeline.artifacts import ArtifactBundle
from mlops_pipeline.delivery.registration import drift_reference
from mlops_pipeline.monitoring.drift import Reference
from mlops_pipeline.monitoring.reference import TRAINED, ChampionReference
from mlops_pipeline.storage import Storage


def shifted_stats(bundle: ArtifactBundle, version: str) -> dict[str, Any]:
    stats = dict(bundle.training_stats)
    stats["sample"] = (np.asarray(stats["sample"]) + 1.0).tolist()
    return {**stats, "predicted_class_shares": {version: [0.2, 0.3, 0.5]}}


def register(storage: Storage, version: str, reference: dict[str, Any] | None) -> None:
    storage.models.register(version, b"onnx", "0" * 64, {}, "test", 1.0, reference=reference)


def test_the_reference_follows_the_version_with_the_most_traffic(
    storage: Storage, bundle: ArtifactBundle
) -> None:
    trained = Reference.from_training_stats(bundle.training_stats)
    register(storage, "v3", shifted_stats(bundle, "v3"))
    register(storage, "v4", None)  # registered without a sample: no reference of its own
    weights = {"v1": 0.5, "v2": 0.3, "v3": 0.2}
    references = ChampionReference(trained, {"v1", "v2"}, storage.models, lambda: weights)
    assert references() == (TRAINED, trained)
    weights.update(v1=0.2, v3=0.5)
    label, reference = references()
    assert label == "v3"
    assert np.allclose(reference.sample, trained.sample + 1.0)
    assert reference.class_shares["v3"] == pytest.approx([0.2, 0.3, 0.5], abs=0.02)
    assert references()[1] is reference  # loaded once
    weights.clear()
    weights.update(v4=1.0)
    assert references() == (TRAINED, trained)  # nothing stored for v4: the artifacts' data
    storage.models.retire("v3", "test", 2.0)
    fresh = ChampionReference(trained, {"v1", "v2"}, storage.models, lambda: {"v3": 1.0})
    assert fresh()[0] == TRAINED  # a retired version's reference is not used


def test_an_unusable_stored_reference_falls_back(storage: Storage, bundle: ArtifactBundle) -> None:
    trained = Reference.from_training_stats(bundle.training_stats)
    broken = {**shifted_stats(bundle, "v3"), "features": {}}
    register(storage, "v3", broken)
    references = ChampionReference(trained, {"v1", "v2"}, storage.models, lambda: {"v3": 1.0})
    assert references() == (TRAINED, trained)


def test_registration_keeps_the_folders_statistics_when_they_hold_a_sample(
    bundle: ArtifactBundle,
) -> None:
    stats = dict(bundle.training_stats)
    assert drift_reference(stats) is stats
    assert drift_reference({**stats, "sample": None}) is None
