"""The recipe a retrain takes from its champion: an imported champion (a model trained
elsewhere, `mlops models import`) has none retraining can fit, and says how to go on."""

from __future__ import annotations

import pytest

from mlops_pipeline.retraining.champion import Champion, RetrainRefused, recipe
from mlops_pipeline.version_metadata import VersionMetadata


def champion(metadata: dict[str, object]) -> Champion:
    return Champion("v3", 1.0, b"onnx", VersionMetadata.parse(metadata))


def test_a_trained_champion_gives_its_algorithm_parameters_and_seed() -> None:
    spec, seed = recipe(
        champion({"algorithm": "random_forest", "params": {"n_estimators": 30, "random_state": 7}}),
        "v4",
    )
    assert (spec.name, spec.algorithm, spec.params, spec.weight, seed) == (
        "v4", "random_forest", {"n_estimators": 30}, 0.0, 7,
    )  # fmt: skip


def test_an_imported_champion_is_refused_naming_like() -> None:
    # What `mlops models import` records; the retrain used to fail later, in the fit, with a
    # ValueError (a traceback from the CLI, a failed run from the monitor).
    imported = champion({"algorithm": "imported Pipeline(SimpleImputer, XGBClassifier)"})
    with pytest.raises(RetrainRefused) as refused:
        recipe(imported, "v4")
    message = str(refused.value)
    assert "v3 is 'imported Pipeline(SimpleImputer, XGBClassifier)'" in message
    assert "`mlops retrain --like NAME`" in message
