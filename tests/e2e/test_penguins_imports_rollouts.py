"""End to end on SQLite (issue #22): penguins models in the other formats a team brings, and
`mlops retrain` of a penguins deployment, through `mlops serve` + `mlops monitor`.

Imports: an XGBoost and a LightGBM classifier, each behind the ColumnTransformer (imputers,
one-hot island and sex) in a skops Pipeline, and an MLflow model directory written by
`mlflow.sklearn.save_model` with the signature `infer_signature` gives (strings, optional
columns). Each is fitted on three quarters of the CSV, imported with `mlops models import
--sample` the held-out quarter, served at weight 0 and measured on the held-out rows when
pinned, then carried by a rollout to all the traffic, one after the other (v3 over v2, v4 over
v3, v5 over v4). A bare booster fitted on one-hot columns is refused, the difference from the
served schema named (a booster reads a float matrix; island and sex are served as strings).

Retrain: labelled typed production rows (some with sex null), then `mlops retrain --base-data`
the CSV `--rollout`: the candidate is registered at weight 0 with its lineage, served, and its
rollout started against the champion."""

from __future__ import annotations

import json
import time
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
import requests

from mlops_pipeline.cli.main import main
from tests.e2e.test_rollout_e2e import FAST, PLAN
from tests.support import penguins_models
from tests.support.helpers import ADMIN, FEEDBACK
from tests.support.penguins import CLASSES, labelled, pinned_infer, records
from tests.support.servers import Stack, run_cli, running_stack, served_everywhere, split_everywhere

pytestmark = pytest.mark.e2e

CSV = penguins_models.PENGUINS_CSV


@pytest.fixture
def stack(penguins_dir: Path, tmp_path: Path) -> Iterator[Stack]:
    """The example's v1 and v2 (trained once per session, only read here) served as penguins."""
    env = {**FAST, "MLOPS_MODEL_NAME": "penguins", "MLOPS_RETRAIN_MIN_LABELS": "100"}
    with running_stack(penguins_dir, tmp_path, env) as running:
        yield running


def pinned_classes(stack: Stack, version: str, frame: Any) -> list[int]:
    """The class indices ``version`` answers for ``frame``, one V2 infer pinned to it (no
    traffic goes to a version at weight 0; the admin may pin it): a named input per column,
    BYTES strings, null where missing."""
    body = pinned_infer(stack.url, version, records(frame))
    assert body["model_version"] == version
    label = next(output for output in body["outputs"] if output["name"] == "label")
    return [int(value) for value in label["data"]]


def import_with_cli(
    stack: Stack, capsys: pytest.CaptureFixture[str], *args: str
) -> tuple[int, str, str]:
    """`mlops models import ARGS` against ``stack``'s store and artifacts: (exit code, output,
    errors). In this process: each `mlops` process spends seconds importing its libraries (CI
    time is short), and the subprocess CLI imports penguins in test_penguins_import_e2e.py."""
    paths = ["--db", stack.env["MLOPS_DB_PATH"], "--artifacts", stack.env["MLOPS_ARTIFACTS_DIR"]]
    capsys.readouterr()
    code = main(["models", "import", *args, *paths])
    captured = capsys.readouterr()
    return code, captured.out, captured.err


def weights(stack: Stack) -> dict[str, float]:
    return dict(requests.get(stack.url + "/config", timeout=5).json()["weights"])


def roll_out(stack: Stack, candidate: str, baseline: str, traffic: list[tuple[Any, int]]) -> Any:
    """PLAN for ``candidate`` against ``baseline``, fed the CSV's rows (shuffled: a window of one
    species would look like drift and hold a step). The candidate's answers are labelled with
    the penguin's true species, the baseline's wrong, until the controller ends the rollout; the
    candidate is then awaited at all the traffic on every worker."""
    plan: dict[str, Any] = {**PLAN, "candidate": candidate, "baseline": baseline}
    started = requests.post(stack.url + "/rollouts", json=plan, headers=ADMIN, timeout=5)
    assert started.status_code == 201, started.text
    deadline, index = time.monotonic() + 60, 0
    with requests.Session() as http:
        while time.monotonic() < deadline:
            answers, labels = [], []
            for _ in range(20):
                features, species = traffic[index % len(traffic)]
                index += 1
                answer = http.post(stack.url + "/predict", json={"features": features}, timeout=5)
                assert answer.status_code == 200, answer.text
                answers.append(answer.json())
                labels.append(species)
            body = [
                {"request_id": a["request_id"],
                 "true_label": y if a["model_version"] == candidate else (a["prediction"] + 1) % 3}
                for a, y in zip(answers, labels, strict=True)
            ]  # fmt: skip
            assert http.post(stack.url + "/feedback", json=body, headers=FEEDBACK, timeout=5).ok
            latest = http.get(stack.url + "/rollouts?limit=1", timeout=5).json()["rollouts"][0]
            if latest["state"] != "running":
                break
    assert latest["state"] == "promoted", latest["reason"]
    split_everywhere(stack.url, lambda split: split.get(candidate) == 1.0, 10)
    return latest


def test_xgboost_lightgbm_and_mlflow_penguins_pipelines_imported_then_each_rolled_out(
    stack: Stack, tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    import pandas as pd
    from lightgbm import LGBMClassifier
    from mlflow.models import Model
    from sklearn.ensemble import RandomForestClassifier
    from sklearn.preprocessing import LabelEncoder
    from xgboost import XGBClassifier

    features, species, held_out, held_species = penguins_models.held_out_split()
    assert held_out["sex"].isna().any()  # missing values among the rows measured on
    truth = [CLASSES.index(name) for name in held_species]
    # XGBClassifier learns class indices (LabelEncoder's alphabetical order is the served one);
    # LightGBM and the forest learn the species names.
    xgboost = penguins_models.fitted_pipeline(
        XGBClassifier(n_estimators=30, max_depth=3, random_state=0, n_jobs=1),
        features,
        LabelEncoder().fit_transform(species),
    )
    lightgbm = penguins_models.fitted_pipeline(
        LGBMClassifier(n_estimators=30, random_state=0, n_jobs=1, verbose=-1), features, species
    )
    forest = penguins_models.fitted_pipeline(
        RandomForestClassifier(30, max_depth=6, random_state=0, n_jobs=1), features, species
    )
    sources = {
        "v3": (penguins_models.skops_file(xgboost, tmp_path / "xgboost.skops"), "skops"),
        "v4": (penguins_models.skops_file(lightgbm, tmp_path / "lightgbm.skops"), "skops"),
        "v5": (penguins_models.mlflow_sklearn(forest, features, tmp_path), "mlflow/sklearn/skops"),
    }
    expected = {  # what each original answers on the held-out rows, as class indices
        "v3": [int(x) for x in xgboost.predict(held_out)],
        "v4": [CLASSES.index(name) for name in lightgbm.predict(held_out)],
        "v5": [CLASSES.index(name) for name in forest.predict(held_out)],
    }
    signature = Model.load(sources["v5"][0]).signature.inputs.inputs
    spec = {column.name: (column.type.name, column.required) for column in signature}
    assert spec["sex"] == ("string", False)  # strings and missing values, as MLflow says them
    assert (spec["island"], spec["body_mass_g"]) == (("string", True), ("double", False))
    sample = tmp_path / "held_out.csv"
    held_out.to_csv(sample, index=False)
    # A bare booster fitted on one-hot columns is refused, the difference named: the served
    # versions read island and sex as strings. Behind the ColumnTransformer (v3) it imports.
    encoded = pd.get_dummies(features, columns=penguins_models.STRINGS, dtype=float)
    booster = XGBClassifier(n_estimators=5, random_state=0, n_jobs=1)
    booster.fit(encoded, LabelEncoder().fit_transform(species))
    path = tmp_path / "booster.json"
    booster.get_booster().save_model(path)
    code, _, refusal = import_with_cli(stack, capsys, str(path), "--version", "v3")
    assert code == 2
    assert "schema differs from the served versions'" in refusal
    assert "column 'island_Biscoe' is only in the candidate" in refusal
    for version, (path, source_format) in sources.items():
        args = (str(path), "--version", version, "--sample", str(sample))
        code, output, errors = import_with_cli(stack, capsys, *args)
        assert code == 0, errors
        assert f"imported {version} from {source_format}" in output
    models = served_everywhere(stack.url, set(sources))
    served = {name: models[name] for name in ("v1", "v2")}
    for version in sources:
        assert weights(stack).get(version, 0.0) == 0.0
        model = models[version]
        assert model["schema"] == served["v1"]["schema"]  # sex nullable, island's categories
        parity = model["import"]["parity"]
        assert (parity["rows"], parity["class_agreement"]) == (len(held_out), 1.0)
        answered = pinned_classes(stack, version, held_out)
        assert answered == expected[version]  # served as the original answers
        accuracy = sum(a == t for a, t in zip(answered, truth, strict=True)) / len(truth)
        assert accuracy >= 0.95, f"{version}: {accuracy:.3f} on the held-out rows"
    shuffled = pd.read_csv(CSV).sample(frac=1.0, random_state=1)
    traffic = labelled(shuffled)
    for candidate, baseline in (("v3", "v2"), ("v4", "v3"), ("v5", "v4")):
        rollout = roll_out(stack, candidate, baseline, traffic)
        # The baseline's answers were all labelled wrong: the difference is the candidate's
        # accuracy on the live, true labels.
        assert rollout["evidence"]["difference"] >= 0.9, rollout["evidence"]
    answers = {
        requests.post(stack.url + "/predict", json={"features": traffic[0][0]}, timeout=5).json()[
            "model_version"
        ]
        for _ in range(10)
    }
    assert answers == {"v5"}


def predict_and_label(stack: Stack, traffic: list[tuple[dict[str, Any], int]]) -> None:
    """One routed /predict per row, then every answer labelled with its true species."""
    with requests.Session() as http:
        answers = []
        for features, _ in traffic:
            answer = http.post(stack.url + "/predict", json={"features": features}, timeout=5)
            assert answer.status_code == 200, answer.text
            answers.append(answer.json())
        body = [
            {"request_id": a["request_id"], "true_label": y}
            for a, (_, y) in zip(answers, traffic, strict=True)
        ]
        assert http.post(stack.url + "/feedback", json=body, headers=FEEDBACK, timeout=10).ok


def finished_run(stack: Stack, run_id: int) -> dict[str, Any]:
    deadline = time.monotonic() + 30
    while time.monotonic() < deadline:
        runs = requests.get(stack.url + "/retrains", timeout=5).json()["retrains"]
        run = next(r for r in runs if r["id"] == run_id)
        if run["status"] not in ("queued", "running"):
            return dict(run)
        time.sleep(0.2)
    raise AssertionError(f"retraining run {run_id} did not finish within 30 s")


def test_mlops_retrain_of_penguins_on_labelled_typed_rows_plus_the_base_csv(stack: Stack) -> None:
    import hashlib

    import pandas as pd

    frame = pd.read_csv(CSV).sample(frac=1.0, random_state=2)
    traffic = labelled(frame)[:150]
    assert any(row["sex"] is None for row, _ in traffic)  # logged and learnt as missing
    started = time.time()
    predict_and_label(stack, traffic)
    # The monitor's queue (POST /retrains, the UI's form, a drift alert) has no CSV to learn
    # from: for penguins it refuses, saying what to do; the CLI is the way.
    queued = requests.post(stack.url + "/retrains", json={}, headers=ADMIN, timeout=5)
    assert queued.status_code == 202, queued.text
    run = finished_run(stack, queued.json()["id"])
    assert run["status"] == "refused"
    assert "pass --base-data CSV" in run["message"]
    before = weights(stack)
    retrain = ["retrain", "--version", "v3", "--base-data", str(CSV), "--target", "species"]
    outcome = json.loads(run_cli(*retrain, "--rollout", "--json", env=stack.env))
    assert outcome["version"] == "v3"
    lineage = outcome["lineage"]
    labels = lineage["production_labels"]
    assert (labels["count"], labels["duplicates_dropped"]) == (150, 0)
    assert (labels["train_rows"], labels["holdout_rows"]) == (120, 30)
    assert started <= labels["first_request_at"] <= labels["last_labelled_at"] <= time.time()
    assert lineage["trigger"] == "cli"
    assert lineage["base_data"] == {
        "source": "csv:penguins.csv",
        "sha256": hashlib.sha256(CSV.read_bytes()).hexdigest(),
        "rows": 344,
        "same_as_champion": True,
    }
    champion = lineage["champion"]["version"]
    assert champion in ("v1", "v2")
    # Served by the running server with its lineage and the served schema; registered at weight
    # 0 (the split its rollout started from), then at the rollout's first step.
    models = served_everywhere(stack.url, {"v3"})
    assert models["v3"]["lineage"] == lineage
    assert models["v3"]["training_data"]["rows"] == 344 + 120
    assert models["v3"]["schema"] == models["v1"]["schema"]
    rollout = requests.get(stack.url + "/rollouts/current", timeout=5).json()
    assert (rollout["id"], rollout["candidate"], rollout["baseline"]) == (
        outcome["rollout_id"], "v3", champion,
    )  # fmt: skip
    assert rollout["weights_before"] == before
    assert before.get("v3", 0.0) == 0.0
    assert rollout["plan"]["hold_on_drift"] is False  # the default plan, judged for a retrain
    assert rollout["step_share"] == rollout["plan"]["steps"][0] == 0.05
    split_everywhere(stack.url, lambda split: split.get("v3") == 0.05, 10)
    # It answers the newest rows, held out by time, as well as the champion (penguins are easy).
    held = frame.iloc[120:150].drop(columns="species")
    truth = [label for _, label in traffic[120:]]
    for version in ("v3", champion):
        answered = pinned_classes(stack, version, held)
        assert sum(a == t for a, t in zip(answered, truth, strict=True)) >= 28, version
