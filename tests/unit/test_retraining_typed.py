"""Retraining a typed model (issue #22, section 6): penguins rows logged by column name and
labelled through /feedback, retrained on the base CSV plus those rows with the typed pipeline,
registered at weight 0 with a lineage that counts them. In process: the production app (Flask
test client), a real ONNX export and a real registration."""

from __future__ import annotations

import hashlib
import json
import time
from pathlib import Path
from typing import Any

import numpy as np
import palmerpenguins
import pytest
from flask.testing import FlaskClient

from mlops_pipeline.bootstrap import Components
from mlops_pipeline.cli.main import main
from mlops_pipeline.config import Settings
from mlops_pipeline.monitoring.typed_reference import TypedReference
from mlops_pipeline.retraining.champion import RetrainRefused
from mlops_pipeline.retraining.dataset import deduplicate, split_by_time
from mlops_pipeline.retraining.service import Options
from mlops_pipeline.storage.labels import TypedLabelledRows
from tests.support.helpers import ADMIN_TOKEN, FEEDBACK, FEEDBACK_TOKEN

ROOT = Path(__file__).resolve().parents[2]
PENGUINS_CSV = Path(palmerpenguins.__file__).parent / "data" / "penguins.csv"
CLASSES = ["Adelie", "Chinstrap", "Gentoo"]
TRAFFIC = 120  # labelled production rows


def typed_rows(rows: list[dict[str, Any]], labels: list[int], created: list[float]) -> Any:
    stamps = np.array(created, dtype=np.float64)
    return TypedLabelledRows(rows, np.array(labels, dtype=np.int64), stamps, stamps + 100)


def test_typed_rows_deduplicate_and_split_like_float_rows() -> None:
    a, b = {"island": "Dream", "sex": None}, {"sex": None, "island": "Dream"}  # same row
    given = typed_rows([a, b, a, {"island": "Biscoe", "sex": "male"}, a], [0, 0, 1, 2, 0],
                       [1, 2, 3, 4, 400])  # fmt: skip
    kept, dropped = deduplicate(given, within_seconds=300)
    # t=2 repeats t=1 whatever its keys' order (a retry): dropped; label 1 at t=3 disagrees:
    # kept; t=400 is 399 s after the kept copy: another penguin, kept.
    assert dropped == 1
    assert kept.labels.tolist() == [0, 1, 2, 0]
    train, holdout = split_by_time(kept, 0.25)
    assert (len(train.rows), holdout.rows) == (3, [a])
    assert holdout.created_at.tolist() == [400.0]


@pytest.fixture(scope="module")
def penguins_dir(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """The example's versions (random forest, xgboost), trained by the CLI once."""
    out = tmp_path_factory.mktemp("penguins") / "artifacts"
    versions = ROOT / "examples" / "penguins" / "model_versions.toml"
    args = ["train", "--data", str(PENGUINS_CSV), "--target", "species", "--out", str(out)]
    assert main([*args, "--versions-file", str(versions)]) == 0
    return out


@pytest.fixture
def typed_settings(penguins_dir: Path, tmp_path: Path) -> Settings:
    return Settings(
        artifacts_dir=penguins_dir,
        db_path=tmp_path / "predictions.db",
        max_batch_rows=50,
        admin_token=ADMIN_TOKEN,
        feedback_token=FEEDBACK_TOKEN,
        model_name="penguins",
        log_predictions=True,
        drift_interval_seconds=0,
        retrain_min_labels=60,
    )


def penguin_rows(count: int, seed: int) -> tuple[list[dict[str, Any]], list[int]]:
    """``count`` CSV rows in random order, by column name with null where missing."""
    import pandas as pd

    frame = pd.read_csv(PENGUINS_CSV).sample(n=count, random_state=seed)
    labels = [CLASSES.index(name) for name in frame.pop("species")]
    rows = [
        {k: None if v != v else (int(v) if k == "year" else v) for k, v in row.items()}
        for row in frame.to_dict(orient="records")
    ]
    return rows, labels


def label_traffic(client: FlaskClient, rows: list[dict[str, Any]], labels: list[int]) -> None:
    """Routed typed predictions, each labelled with its true class through POST /feedback."""
    answers = []
    for row in rows:
        answer = client.post("/predict", json={"features": row})
        assert answer.status_code == 200, answer.get_json()
        answers.append(answer.get_json())
    body = [
        {"request_id": a["request_id"], "true_label": y}
        for a, y in zip(answers, labels, strict=True)
    ]
    assert client.post("/feedback", json=body, headers=FEEDBACK).status_code == 200


def open_run(components: Components) -> Any:
    assert components.storage is not None
    return components.storage.retrains.open(
        "cli", "tester", None, False, None, time.time(), running=True
    )


def test_a_penguins_retrain_from_labelled_typed_rows_registers_a_candidate(
    typed: FlaskClient, typed_components: Components, typed_settings: Settings
) -> None:
    rows, labels = penguin_rows(TRAFFIC, seed=5)
    assert any(row["sex"] is None for row in rows)  # missing values travel as null
    label_traffic(typed, rows, labels)
    label_traffic(typed, rows[:5], labels[:5])  # a client retried: duplicates
    retrainer = typed_components.retrainer(typed_settings)
    with pytest.raises(RetrainRefused, match="pass --base-data CSV"):  # a CSV is not bundled
        retrainer.execute(open_run(typed_components))
    outcome = retrainer.execute(open_run(typed_components), Options(base_data=PENGUINS_CSV))
    assert (outcome.version, outcome.champion in ("v1", "v2")) == ("v3", True)
    used = outcome.lineage["production_labels"]
    assert isinstance(used, dict)
    holdout = round(TRAFFIC * 0.2)
    assert (used["count"], used["duplicates_dropped"]) == (TRAFFIC, 5)
    assert (used["train_rows"], used["holdout_rows"]) == (TRAFFIC - holdout, holdout)
    assert outcome.lineage["base_data"] == {
        "source": "csv:penguins.csv",
        "sha256": hashlib.sha256(PENGUINS_CSV.read_bytes()).hexdigest(),
        "rows": 344,
        "same_as_champion": True,
    }
    # Penguins are easy: both models answer the holdout well, and the comparison says so.
    comparison = outcome.comparison
    assert comparison.candidate.rows == holdout
    assert comparison.candidate.accuracy >= 0.9
    assert comparison.champion.accuracy >= 0.9
    # Registered at weight 0 (the served schema checked), served after the next sync.
    assert typed_components.model_sync is not None
    typed_components.model_sync.sync()
    assert "v3" in typed_components.service.versions
    assert typed_components.service.router.weights.get("v3", 0.0) == 0.0
    shown = typed.get("/models").get_json()["v3"]
    assert shown["lineage"]["production_labels"]["count"] == TRAFFIC
    assert shown["training_data"]["rows"] == 344 + TRAFFIC - holdout
    # Its drift reference: the production rows it learnt, typed, with the holdout's shares.
    assert typed_components.storage is not None
    stats = typed_components.storage.models.reference("v3")
    assert stats is not None
    assert (stats["n_rows"], stats["predicted_class_rows"]) == (TRAFFIC - holdout, holdout)
    reference = TypedReference.from_training_stats(json.loads(json.dumps(stats)))
    assert reference.rows == holdout
    assert sorted(reference.class_shares) == sorted(["v3", outcome.champion])
    assert sum(reference.counts["island"].values()) == TRAFFIC - holdout
