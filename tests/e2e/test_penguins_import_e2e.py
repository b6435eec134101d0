"""End to end on SQLite (issue #22): a scikit-learn Pipeline trained elsewhere on penguins (a
ColumnTransformer imputing and one-hot encoding island and sex) imported with `mlops models
import` into a running penguins deployment, served at weight 0, answering V2 named inputs when
pinned (BYTES strings, a missing sex, an unseen island), then carried by a rollout to all the
traffic."""

from __future__ import annotations

import time
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pandas as pd
import pytest
import requests

from mlops_pipeline.cli.main import main
from tests.e2e.test_rollout_e2e import FAST, PLAN
from tests.support import penguins_models
from tests.support.helpers import ADMIN, FEEDBACK
from tests.support.penguins import pinned_infer, records
from tests.support.servers import Stack, run_cli, running_stack, served_everywhere

pytestmark = pytest.mark.e2e

ROOT = Path(__file__).resolve().parents[2]
PINNED_ROW: dict[str, Any] = {
    "island": "Atlantis", "bill_length_mm": 39.1, "bill_depth_mm": 18.7,
    "flipper_length_mm": 181.0, "body_mass_g": 3750.0, "sex": "", "year": 2007,
}  # fmt: skip


@pytest.fixture
def stack(tmp_path: Path) -> Iterator[Stack]:
    out = tmp_path / "artifacts"
    versions = ROOT / "examples" / "penguins" / "model_versions.toml"
    csv = str(penguins_models.PENGUINS_CSV)
    args = ["train", "--data", csv, "--target", "species", "--versions-file", str(versions)]
    assert main([*args, "--out", str(out)]) == 0
    with running_stack(out, tmp_path, {**FAST, "MLOPS_MODEL_NAME": "penguins"}) as running:
        yield running


def pinned(stack: Stack, version: str) -> dict[str, Any]:
    """V2 inference pinned to ``version``: one named input per column, strings as BYTES."""
    return pinned_infer(stack.url, version, [PINNED_ROW])


def shuffled_rows() -> list[dict[str, Any]]:
    """The CSV's rows by column name (null for missing), shuffled: the file is sorted by species,
    and a window of one species would look like drift and hold a rollout step."""
    frame = pd.read_csv(penguins_models.PENGUINS_CSV).drop(columns="species")
    frame = frame.sample(frac=1.0, random_state=0)
    return records(frame)


def run_rollout(stack: Stack, rows: list[dict[str, Any]]) -> dict[str, Any]:
    """PLAN (v3 against v2); v3's answers labelled right, v2's wrong, until it ends."""
    plan: dict[str, Any] = dict(PLAN)
    started = requests.post(stack.url + "/rollouts", json=plan, headers=ADMIN, timeout=5)
    assert started.status_code == 201, started.text
    deadline, index = time.monotonic() + 90, 0
    with requests.Session() as http:
        while time.monotonic() < deadline:
            for _ in range(20):
                features = rows[index % len(rows)]
                index += 1
                answer = http.post(stack.url + "/predict", json={"features": features}, timeout=5)
                assert answer.status_code == 200, answer.text
                body = answer.json()
                right = body["model_version"] == "v3"
                label = body["prediction"] if right else (body["prediction"] + 1) % 3
                feedback = {"request_id": body["request_id"], "true_label": label}
                assert http.post(
                    stack.url + "/feedback", json=feedback, headers=FEEDBACK, timeout=5
                ).ok
            latest = http.get(stack.url + "/rollouts?limit=1", timeout=5).json()["rollouts"][0]
            if latest["state"] != "running":
                return dict(latest)
    raise AssertionError(f"the rollout did not finish: {latest['reason']}")


def test_a_pipeline_imported_served_pinned_and_rolled_out(stack: Stack, tmp_path: Path) -> None:
    path = penguins_models.skops_pipeline(tmp_path)
    out = run_cli("models", "import", str(path), "--version", "v3", env=stack.env)
    assert "imported v3 from skops" in out
    served_everywhere(stack.url, {"v3"})
    assert requests.get(stack.url + "/config", timeout=5).json()["weights"].get("v3", 0.0) == 0.0
    models = requests.get(stack.url + "/models", timeout=5).json()
    assert "'class_agreement': 1.0" in str(models["v3"])
    answer = pinned(stack, "v3")
    assert answer["model_version"] == "v3"
    outputs = {output["name"]: output for output in answer["outputs"]}
    assert outputs["label"]["data"] == [0]  # Adelie, from an unseen island with no sex
    rollout = run_rollout(stack, shuffled_rows())
    assert rollout["state"] == "promoted", rollout["reason"]
    deadline = time.monotonic() + 10  # every worker adopts the promoted split (weights sync)
    while requests.get(stack.url + "/config", timeout=5).json()["weights"].get("v3") != 1.0:
        assert time.monotonic() < deadline, "v3 not at all the traffic within 10 s"
        time.sleep(0.1)
