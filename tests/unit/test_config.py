from __future__ import annotations

import json
import math
import os
from pathlib import Path

import pytest
from pydantic import ValidationError

from mlops_pipeline.config import (
    Settings,
    load_catalogue,
    normalise_weights,
    settings_to_env,
    validate_weights,
)


def test_shipped_catalogue_has_v1_with_50_trees_and_v2_with_100() -> None:
    catalogue = load_catalogue()
    params = {spec.name: spec.params["n_estimators"] for spec in catalogue.versions}
    assert params == {"v1": 50, "v2": 100}
    assert catalogue.default_weights() == {"v1": 0.5, "v2": 0.5}


def test_catalogue_from_file_accepts_a_third_version(tmp_path: Path) -> None:
    path = tmp_path / "versions.toml"
    path.write_text(
        '[[versions]]\nname = "v1"\nalgorithm = "random_forest"\nweight = 2\n'
        '[[versions]]\nname = "v3"\nalgorithm = "random_forest"\nweight = 1\n'
        "params = { n_estimators = 10 }\n"
    )
    catalogue = load_catalogue(path)
    assert [spec.name for spec in catalogue.versions] == ["v1", "v3"]
    assert catalogue.default_weights() == pytest.approx({"v1": 2 / 3, "v3": 1 / 3})


@pytest.mark.parametrize(
    "body",
    [
        '[[versions]]\nname = "v1"\nalgorithm = "random_forest"\n'
        '[[versions]]\nname = "v1"\nalgorithm = "random_forest"\n',
        '[[versions]]\nname = "../evil"\nalgorithm = "random_forest"\n',
        '[[versions]]\nname = "v1"\nalgorithm = "random_forest"\nweight = 0\n',
        "versions = []\n",
    ],
    ids=["duplicate", "path-name", "all-zero-weight", "empty"],
)
def test_catalogue_rejects_invalid_entries(tmp_path: Path, body: str) -> None:
    path = tmp_path / "versions.toml"
    path.write_text(body)
    with pytest.raises(ValidationError):
        load_catalogue(path)


def test_normalise_weights_divides_by_the_total() -> None:
    assert normalise_weights({"a": 1, "b": 3}) == {"a": 0.25, "b": 0.75}


@pytest.mark.parametrize(
    "weights",
    [{}, {"a": -0.1, "b": 1.1}, {"a": math.nan}, {"a": math.inf}, {"a": 0, "b": 0}, {"a": True}],
)
def test_validate_weights_rejects(weights: dict[str, float]) -> None:
    with pytest.raises(ValueError):  # noqa: PT011 - the message varies by case
        validate_weights(weights)


def test_settings_read_mlops_environment(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("MLOPS_PORT", "5123")
    monkeypatch.setenv("MLOPS_AB_WEIGHTS", '{"v1": 0.2, "v2": 0.8}')
    monkeypatch.setenv("MLOPS_LOG_PREDICTIONS", "false")
    settings = Settings()
    assert settings.port == 5123
    assert settings.ab_weights == {"v1": 0.2, "v2": 0.8}
    assert settings.log_predictions is False


def test_the_defaults_keep_answers_logged_and_deployments_out_of_anonymous_hands(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    for name in [name for name in os.environ if name.startswith("MLOPS_")]:
        monkeypatch.delenv(name)
    settings = Settings()
    assert settings.db_durable_commit is True  # an answered prediction survives a crash
    assert settings.allow_anonymous_pins is False  # weight-0 versions need the admin
    assert settings.drift_max_client_share == 0.03  # one client cannot fill the drift window
    assert settings.admin_token is None  # empty disables what it guards
    assert settings.predict_tokens is None


def test_settings_reject_invalid_weights_from_environment(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("MLOPS_AB_WEIGHTS", '{"v1": -1}')
    with pytest.raises(ValidationError, match="finite and >= 0"):
        Settings()


def test_settings_to_env_round_trips(monkeypatch: pytest.MonkeyPatch, tmp_path: Path) -> None:
    original = Settings(
        artifacts_dir=tmp_path / "a",
        port=6001,
        ab_weights={"v1": 1.0},
        log_predictions=False,
        router_seed=3,
    )
    env = settings_to_env(original)
    assert json.loads(env["MLOPS_AB_WEIGHTS"]) == {"v1": 1.0}
    for name, value in env.items():
        monkeypatch.setenv(name, value)
    rebuilt = Settings()
    assert rebuilt.model_dump() == original.model_dump()
