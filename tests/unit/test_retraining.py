"""Retraining: the pure pieces by hand, the stores on both backends, the service end to end in
process (real ONNX export, real registration, the rollout it starts)."""

from __future__ import annotations

import json
import time
from pathlib import Path
from typing import Any

import numpy as np
import pytest
from flask.testing import FlaskClient

from mlops_pipeline.bootstrap import Components
from mlops_pipeline.config import Settings
from mlops_pipeline.retraining.champion import RetrainRefused, next_name
from mlops_pipeline.retraining.comparison import compare, wilson
from mlops_pipeline.retraining.dataset import combine, deduplicate, split_by_time
from mlops_pipeline.storage import Storage
from mlops_pipeline.storage.records import LabelledRows, PredictionBatch
from mlops_pipeline.storage.retrains import (
    FAILED,
    QUEUED,
    QUEUED_SECONDS,
    REFUSED,
    REGISTERED,
    RUNNING_SECONDS,
    RetrainBusy,
)
from mlops_pipeline.training.data import Dataset
from mlops_pipeline.training.synthetic import ClassConditionalGaussian, shift_class
from tests.support.helpers import FEEDBACK


def rows(features: list[list[float]], labels: list[int], created: list[float]) -> LabelledRows:
    return LabelledRows(
        np.array(features, dtype=np.float64),
        np.array(labels, dtype=np.int64),
        np.array(created, dtype=np.float64),
        np.array(created, dtype=np.float64) + 100,
    )


# --- pure functions ------------------------------------------------------------------------


def test_deduplicate_drops_retries_and_keeps_real_repeats_and_disagreements() -> None:
    given = rows(
        [[1, 2], [1, 2], [1, 2], [3, 4], [1, 2], [1, 2]], [0, 0, 1, 0, 0, 0], [1, 2, 3, 4, 400, 500]
    )
    kept, dropped = deduplicate(given, within_seconds=300)
    # t=2 repeats t=1 (a retry): dropped. The label 1 at t=3 disagrees: kept. t=400 is 399 s
    # after the kept copy: another flower, kept; t=500 is 100 s after that one: dropped.
    assert dropped == 2
    assert kept.labels.tolist() == [0, 1, 0, 0]
    assert kept.created_at.tolist() == [1, 3, 4, 400]


def test_split_by_time_holds_out_the_newest_and_keeps_a_batch_together() -> None:
    ten = rows([[i, i] for i in range(10)], [0] * 10, [float(i) for i in range(10)])
    train, holdout = split_by_time(ten, 0.2)
    assert train.created_at.tolist() == [0, 1, 2, 3, 4, 5, 6, 7]
    assert holdout.created_at.tolist() == [8, 9]
    # Rows 7 and 8 answered by one request (same instant): both go to the holdout.
    batch = rows([[i, i] for i in range(10)], [0] * 10, [0, 1, 2, 3, 4, 5, 6, 8, 8, 9])
    train, holdout = split_by_time(batch, 0.2)
    assert (len(train.labels), holdout.created_at.tolist()) == (7, [8, 8, 9])
    # Rows 3-8 are one batch: moving back would hold out 7 of 10, so the batch trains instead.
    big = rows([[i, i] for i in range(10)], [0] * 10, [0, 1, 2, 3, 3, 3, 3, 3, 3, 9])
    train, holdout = split_by_time(big, 0.2)
    assert (len(train.labels), holdout.created_at.tolist()) == (9, [9])
    with pytest.raises(ValueError, match="too few instants"):
        split_by_time(rows([[0, 0], [1, 1]], [0, 0], [5, 5]), 0.5)


def test_combine_puts_base_rows_first() -> None:
    production = rows([[9, 9]], [2], [1])
    combined = combine(np.array([[1.0, 1.0], [2.0, 2.0]]), np.array([0, 1]), production)
    assert combined.features.tolist() == [[1, 1], [2, 2], [9, 9]]
    assert (combined.labels.tolist(), combined.base_rows, combined.production_rows) == (
        [0, 1, 2],
        2,
        1,
    )


def test_wilson_interval_matches_the_formula() -> None:
    # 8 of 10 right, z = 1.96: centre (0.8 + 0.19208) / 1.38416 = 0.71679,
    # half 1.96 * sqrt(0.016 + 0.0096040) / 1.38416 = 0.22659 -> [0.4902, 0.9434]
    score = wilson(8, 10)
    assert score.accuracy == 0.8
    assert score.low == pytest.approx(0.4902, abs=1e-4)
    assert score.high == pytest.approx(0.9434, abs=1e-4)


def test_compare_uses_the_agresti_min_paired_interval() -> None:
    truth = np.array([0, 1, 2, 0, 1, 2, 0, 1])
    champion = np.array([0, 1, 2, 0, 0, 0, 0, 0])  # right on rows 0-3 and 6: 5 of 8
    candidate = np.array([0, 1, 2, 0, 1, 2, 0, 0])  # right on rows 0-6: 7 of 8
    eight = compare(truth, champion, candidate)
    # Only the candidate right on 2 rows, only the champion on 0; half a row added to each cell:
    # 2.5 and 0.5 of 10 -> centre 0.2, variance (3 - 2^2 / 10) / 10^2 = 0.026,
    # half 1.96 * 0.16125 = 0.31604 -> [-0.1160, 0.5160]: not shown better on 8 rows.
    assert (eight.champion.accuracy, eight.candidate.accuracy) == (5 / 8, 7 / 8)
    assert eight.difference == 0.25
    assert eight.difference_low == pytest.approx(-0.1160, abs=1e-4)
    assert eight.difference_high == pytest.approx(0.5160, abs=1e-4)
    assert eight.verdict == "not distinguishable"
    # The same rows twice: 4.5 and 0.5 of 18 -> centre 0.22222, variance (5 - 16 / 18) / 18^2 =
    # 0.012689, half 1.96 * 0.11264 = 0.22078 -> [0.0014, 0.4430]: better.
    sixteen = compare(np.tile(truth, 2), np.tile(champion, 2), np.tile(candidate, 2))
    assert sixteen.difference_low == pytest.approx(0.0014, abs=1e-4)
    assert sixteen.difference_high == pytest.approx(0.4430, abs=1e-4)
    assert sixteen.verdict == "better"
    assert (
        compare(np.tile(truth, 2), np.tile(candidate, 2), np.tile(champion, 2)).verdict == "worse"
    )
    # 4 discordant rows of 40, all the candidate's: exact McNemar p = 0.125, so not "better".
    truth40 = np.zeros(40, dtype=np.int64)
    champion40 = np.where(np.arange(40) < 4, 1, 0)
    assert compare(truth40, champion40, truth40).verdict == "not distinguishable"


def test_next_name_follows_the_highest_vn() -> None:
    assert next_name({"v1", "v2"}) == "v3"
    assert next_name({"v1", "v10", "candidate"}) == "v11"
    assert next_name(set()) == "v1"


def test_shift_class_moves_one_class_by_its_sds(iris: Dataset) -> None:
    generator = ClassConditionalGaussian.fit(iris.features, iris.labels)
    features = np.array([[5.0, 3.0, 4.0, 1.3], [5.0, 3.0, 1.4, 0.2]])
    moved = shift_class(features, np.array([1, 0]), generator, 1, (2, 3), 1.0)
    sd = generator.overall_std
    assert moved[0, 2] == pytest.approx(round((4.0 + sd[2]) * 10) / 10)
    assert moved[0, 3] == pytest.approx(round((1.3 + sd[3]) * 10) / 10)
    assert moved[1].tolist() == [5.0, 3.0, 1.4, 0.2]  # another class stays


# --- the stores ----------------------------------------------------------------------------


def test_labelled_rows_are_routed_only_newest_first_limited(storage: Storage) -> None:
    from mlops_pipeline.storage.labels import Label
    from mlops_pipeline.storage.records import LoggedPrediction

    for index, assignment in enumerate(["routed", "pinned", "routed", "routed"]):
        storage.predictions.append(
            PredictionBatch(
                request_id=f"r{index}",
                created_at=100.0 + index,
                model_version="v1",
                user_id=None,
                features=np.array([[index, 0.5], [index, 1.5]]),
                predictions=np.array([0, 1]),
                probabilities=np.array([[1.0, 0.0], [0.0, 1.0]]),
                latency_ms=1.0,
                assignment=assignment,
            )
        )
        logged = LoggedPrediction("v1", 1, assignment)
        storage.labels.save_labels([Label(f"r{index}", 1, logged, 1)], now=200.0 + index)
    found = storage.labels.labelled_rows(since=0.0, limit=10)
    assert found.features.tolist() == [[0, 1.5], [2, 1.5], [3, 1.5]]  # r1 was pinned
    assert found.created_at.tolist() == [100, 102, 103]
    assert found.labelled_at.tolist() == [200, 202, 203]
    assert storage.labels.labelled_rows(since=102.0, limit=10).created_at.tolist() == [102, 103]
    assert storage.labels.labelled_rows(since=0.0, limit=2).created_at.tolist() == [102, 103]
    assert len(storage.labels.labelled_rows(since=1e12, limit=10).labels) == 0


def test_one_open_retrain_run_at_a_time(storage: Storage) -> None:
    runs = storage.retrains
    queued = runs.open("api", "alice", None, True, 7.0, now=10.0)
    assert (queued.status, queued.rollout, queued.since_days) == (QUEUED, True, 7.0)
    with pytest.raises(RetrainBusy):
        runs.open("cli", "bob", "v9", False, None, now=11.0, running=True)
    claimed = runs.claim(now=12.0)
    assert claimed is not None
    assert (claimed.id, claimed.started_at) == (queued.id, 12.0)
    assert runs.claim(now=13.0) is None
    runs.finish(queued.id, REGISTERED, "ok", now=14.0, version="v3", result={"a": 1})
    done = runs.get(queued.id)
    assert done is not None
    assert (done.status, done.version, done.result) == (
        REGISTERED,
        "v3",
        {"a": 1},
    )
    second = runs.open("drift-alert", "alertmanager", None, False, None, now=15.0, running=True)
    assert runs.expire(now=15.0 + RUNNING_SECONDS) == 0
    assert runs.expire(now=15.1 + RUNNING_SECONDS) == 1  # its process stopped mid-way
    stale = runs.get(second.id)
    assert stale is not None
    assert stale.status == FAILED
    assert "abandoned" in stale.message
    assert runs.last_requested("drift-alert") == 15.0
    assert runs.last_requested("ui") is None
    # A queued run no monitor claims expires; the next request then opens (and expires it).
    third = runs.open("api", "alice", None, False, None, now=10_000.0)
    fourth = runs.open("api", "bob", None, False, None, now=10_000.1 + QUEUED_SECONDS)
    expired = runs.get(third.id)
    assert expired is not None
    assert (expired.status, expired.finished_at) == (FAILED, 10_000.1 + QUEUED_SECONDS)
    assert "no monitor started it" in expired.message
    assert [r.id for r in runs.recent(5)] == [fourth.id, third.id, second.id, queued.id]


# --- the service, in process -----------------------------------------------------------------

SHIFTED = 1  # versicolor's petals grow by 1 SD: the served models call many of them virginica


def drifted(
    iris: Dataset, count: int, seed: int
) -> tuple[np.ndarray[Any, Any], np.ndarray[Any, Any]]:
    generator = ClassConditionalGaussian.fit(iris.features, iris.labels)
    features, labels = generator.sample(count, np.random.default_rng(seed))
    return shift_class(features, labels, generator, SHIFTED, (2, 3), 1.0), labels


def label_traffic(client: FlaskClient, features: Any, labels: Any) -> None:
    """Routed predictions, each labelled with its true class through POST /feedback."""
    answers = [
        client.post("/predict", json={"features": [float(x) for x in row]}).get_json()
        for row in features
    ]
    body = [
        {"request_id": a["request_id"], "true_label": int(y)}
        for a, y in zip(answers, labels, strict=True)
    ]
    assert client.post("/feedback", json=body, headers=FEEDBACK).status_code == 200


@pytest.fixture
def retrain_settings(settings: Settings) -> Settings:
    return settings.model_copy(update={"retrain_min_labels": 60})


def open_run(components: Components, version: str | None = None, rollout: bool = False) -> Any:
    assert components.storage is not None
    return components.storage.retrains.open(
        "cli", "tester", version, rollout, None, time.time(), running=True
    )


def test_retrain_on_drifted_labels_registers_a_better_candidate_with_lineage(
    client: FlaskClient, components: Components, retrain_settings: Settings, iris: Dataset
) -> None:
    features, labels = drifted(iris, 150, seed=3)
    label_traffic(client, features, labels)
    label_traffic(client, features[:5], labels[:5])  # a client retried: duplicates
    outcome = components.retrainer(retrain_settings).execute(open_run(components))
    assert outcome.version == "v3"
    assert outcome.champion in ("v1", "v2")
    lineage = outcome.lineage
    labels_used = lineage["production_labels"]
    # Rounded measurements repeat now and then: the distinct (row, label) pairs are what count.
    distinct = len({(tuple(row), int(y)) for row, y in zip(features, labels, strict=True)})
    assert (labels_used["count"], labels_used["duplicates_dropped"]) == (distinct, 155 - distinct)
    holdout = round(distinct * 0.2)
    assert (labels_used["train_rows"], labels_used["holdout_rows"]) == (distinct - holdout, holdout)
    assert (
        labels_used["first_request_at"]
        <= labels_used["holdout_from"]
        <= labels_used["last_request_at"]
    )
    assert lineage["base_data"] == {
        "source": "sklearn:iris",
        "sha256": iris.content_hash(),
        "rows": 150,
        "same_as_champion": True,
    }
    comparison = lineage["comparison"]
    assert comparison["candidate"]["accuracy"] > comparison["champion"]["accuracy"]
    assert (
        comparison["candidate"]["low"]
        <= comparison["candidate"]["accuracy"]
        <= comparison["candidate"]["high"]
    )
    # Registered at weight 0; served after the next sync, its lineage in GET /models.
    assert components.model_sync is not None
    components.model_sync.sync()
    assert "v3" in components.service.versions
    assert components.service.router.weights.get("v3", 0.0) == 0.0
    shown = client.get("/models").get_json()["v3"]
    assert shown["lineage"]["champion"]["version"] == outcome.champion
    assert shown["lineage"]["production_labels"]["count"] == distinct
    assert shown["params"]["n_estimators"] in (50, 100)
    # Its drift reference: the production rows it learnt, not the original data.
    reference = components.storage.models.reference("v3")  # type: ignore[union-attr]
    assert reference is not None
    assert reference["n_rows"] == labels_used["train_rows"]
    shares = reference["predicted_class_shares"]
    assert isinstance(shares, dict)
    assert sorted(shares) == sorted(["v3", outcome.champion])  # both, on the holdout
    assert sum(shares["v3"]) == pytest.approx(1.0)
    run = components.storage.retrains.recent(1)[0]  # type: ignore[union-attr]
    assert (run.status, run.version) == (REGISTERED, "v3")
    assert run.result is not None
    assert run.result["comparison"] == comparison
    # Nothing new labelled since: a second retrain says so.
    with pytest.raises(RetrainRefused, match="no new labelled rows since the last retrain"):
        components.retrainer(retrain_settings).execute(open_run(components))
    assert components.storage.retrains.recent(1)[0].status == REFUSED  # type: ignore[union-attr]


def test_retrain_refuses_too_few_labels_and_taken_names(
    client: FlaskClient, components: Components, retrain_settings: Settings, iris: Dataset
) -> None:
    features, labels = drifted(iris, 20, seed=4)
    label_traffic(client, features, labels)
    retrainer = components.retrainer(retrain_settings)
    with pytest.raises(RetrainRefused, match=r"too few labels: 20 .* at least 60"):
        retrainer.execute(open_run(components))
    with pytest.raises(RetrainRefused, match="v2 is served"):
        retrainer.execute(open_run(components, version="v2"))


def test_retrain_with_rollout_starts_the_default_plan(
    client: FlaskClient, components: Components, retrain_settings: Settings, iris: Dataset
) -> None:
    features, labels = drifted(iris, 80, seed=5)
    label_traffic(client, features, labels)
    outcome = components.retrainer(retrain_settings).execute(
        open_run(components, "v7", rollout=True)
    )
    assert outcome.rollout_id is not None
    current = client.get("/rollouts/current").get_json()
    assert (current["candidate"], current["baseline"], current["step"]) == (
        "v7",
        outcome.champion,
        0,
    )
    assert current["plan"]["steps"][0] == current["step_share"]


# --- the command ---------------------------------------------------------------------------


@pytest.fixture
def retrain_cli_env(cli_env: Settings, monkeypatch: pytest.MonkeyPatch) -> Settings:
    monkeypatch.setenv("MLOPS_RETRAIN_MIN_LABELS", "60")
    return cli_env


def test_cli_keeps_verified_artifacts_and_prints_lineage(
    retrain_cli_env: Settings,
    client: FlaskClient,
    iris: Dataset,
    tmp_path: Path,
    capsys: pytest.CaptureFixture[str],
) -> None:
    from mlops_pipeline.artifacts import load_bundle
    from mlops_pipeline.cli.main import main

    features, labels = drifted(iris, 80, seed=6)
    label_traffic(client, features, labels)
    out = tmp_path / "kept"
    assert main(["retrain", "--version", "v5", "--out", str(out), "--json", "--actor", "ci"]) == 0
    printed = json.loads(capsys.readouterr().out)
    assert (printed["version"], printed["rollout_id"]) == ("v5", None)
    assert printed["lineage"]["trigger"] == "cli"
    kept = load_bundle(out)  # verified against its manifest
    assert list(kept.versions) == ["v5"]
    metadata = kept.versions["v5"].metadata
    assert metadata["lineage"] == printed["lineage"]
    assert metadata["onnx_parity_on_test_split"]["class_agreement"] == 1.0
    assert metadata["default_weight"] == 0.0
    # Refusals are one clear line and exit status 2.
    assert main(["retrain", "--out", str(out)]) == 2
    assert "exists" in capsys.readouterr().err
    assert main(["retrain", "--version", "../x"]) == 2
    assert "--version must match" in capsys.readouterr().err
    assert main(["retrain", "--since", "0"]) == 2
    assert "--since takes a positive number" in capsys.readouterr().err
    assert main(["retrain"]) == 2
    assert "no new labelled rows since the last retrain (v5" in capsys.readouterr().err
    assert main(["retrain", "--base-data", str(tmp_path / "missing.csv")]) == 2
    assert "cannot read" in capsys.readouterr().err


def test_a_retrained_champion_is_retrained_again_from_the_same_base_data(
    client: FlaskClient, components: Components, retrain_settings: Settings, iris: Dataset
) -> None:
    from tests.support.helpers import ADMIN

    features, labels = drifted(iris, 80, seed=7)
    label_traffic(client, features, labels)
    first = components.retrainer(retrain_settings).execute(open_run(components))
    assert components.model_sync is not None
    components.model_sync.sync()
    weights = {"v1": 0.0, "v2": 0.0, first.version: 1.0}
    assert client.put("/config/weights", json=weights, headers=ADMIN).status_code == 200
    features, labels = drifted(iris, 40, seed=8)
    label_traffic(client, features, labels)
    second = components.retrainer(retrain_settings).execute(open_run(components))
    assert (second.champion, second.version) == (first.version, "v4")
    assert second.lineage["base_data"]["source"] == "sklearn:iris"
    assert second.lineage["base_data"]["same_as_champion"] is True
    assert (
        second.lineage["production_labels"]["count"] > first.lineage["production_labels"]["count"]
    )
