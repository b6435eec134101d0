"""End to end on SQLite: models trained elsewhere (a skops Pipeline, an XGBoost booster, a
LightGBM model, an MLflow directory written by MLflow's save_model) imported into a running
Iris deployment with `mlops models import`, each served at weight 0 and answering when pinned,
then one of them carried by a rollout to all the traffic."""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
import requests

from mlops_pipeline.training.data import Dataset
from tests.e2e.test_rollout_e2e import FAST, run_rollout
from tests.support import import_models
from tests.support.helpers import ADMIN
from tests.support.servers import Stack, run_cli, running_stack, served_everywhere

pytestmark = pytest.mark.e2e

SETOSA = [5.1, 3.5, 1.4, 0.2]


@pytest.fixture
def stack(artifacts_dir: Path, tmp_path: Path) -> Iterator[Stack]:
    with running_stack(artifacts_dir, tmp_path, FAST) as running:
        yield running


def pinned(stack: Stack, version: str) -> dict[str, object]:
    """A V2 inference pinned to ``version`` (a version without traffic: the admin may pin it)."""
    body: dict[str, Any] = {
        "inputs": [{"name": "input", "shape": [1, 4], "datatype": "FP64", "data": SETOSA}]
    }
    answer = requests.post(
        f"{stack.url}/v2/models/iris/versions/{version}/infer", json=body, headers=ADMIN, timeout=5
    )
    assert answer.status_code == 200, answer.text
    return dict(answer.json())


def test_four_formats_imported_served_pinned_and_one_rolled_out(
    stack: Stack, iris: Dataset, iris_rows: list[list[float]], tmp_path: Path
) -> None:
    sources = {
        "v3": import_models.xgboost_booster(iris, tmp_path),  # the one the rollout carries
        "v4": import_models.skops_pipeline(iris, tmp_path),
        "v5": import_models.lightgbm_text(iris, tmp_path),
        "v6": import_models.mlflow_xgboost(iris, tmp_path),
    }
    formats = {"v3": "xgboost-json", "v4": "skops", "v5": "lightgbm-text", "v6": "mlflow/xgboost"}
    for version, path in sources.items():
        out = run_cli("models", "import", str(path), "--version", version, env=stack.env)
        assert f"imported {version} from {formats[version]}" in out
    served_everywhere(stack.url, set(sources))
    weights = requests.get(stack.url + "/config", timeout=5).json()["weights"]
    models = requests.get(stack.url + "/models", timeout=5).json()
    for version in sources:
        assert weights.get(version, 0.0) == 0.0
        answer = pinned(stack, version)
        assert answer["model_version"] == version
        assert answer["outputs"][0]["data"] == [0]  # type: ignore[index]  # setosa, by all
        assert "'class_agreement': 1.0" in str(models[version])  # the lineage, as GET /models
    rollout = run_rollout(stack, iris_rows, candidate_right=True, baseline_right=False)
    assert rollout["state"] == "promoted", rollout["reason"]
