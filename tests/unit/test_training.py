from __future__ import annotations

import json
from pathlib import Path

import numpy as np
import pytest

from mlops_pipeline import artifacts
from mlops_pipeline.artifacts import load_bundle
from mlops_pipeline.config import ModelVersionSpec, VersionCatalogue, load_catalogue
from mlops_pipeline.training.data import Dataset
from mlops_pipeline.training.trainer import build_estimator, split_dataset, train_all


def test_split_is_stratified_and_seeded(iris: Dataset) -> None:
    first, second = split_dataset(iris, 0.2, 42), split_dataset(iris, 0.2, 42)
    assert np.array_equal(first.test_x, second.test_x)
    assert np.bincount(first.test_y).tolist() == [10, 10, 10]
    assert not np.array_equal(split_dataset(iris, 0.2, 1).test_x, first.test_x)


def test_metadata_records_what_a_reviewer_needs(artifacts_dir: Path, iris: Dataset) -> None:
    meta = json.loads((artifacts_dir / "v2" / "metadata.json").read_text())
    assert meta["version"] == "v2"
    assert meta["params"] == {"n_estimators": 100, "random_state": 42}
    evaluation = meta["evaluation"]
    assert 0.85 <= evaluation["accuracy"] <= 1.0
    assert 0.85 <= evaluation["macro_f1"] <= 1.0
    assert np.array(evaluation["confusion_matrix"]).sum() == 30
    assert set(evaluation["per_class"]) >= {"setosa", "versicolor", "virginica", "macro avg"}
    assert meta["feature_names"] == list(iris.feature_names)
    assert meta["class_names"] == list(iris.class_names)
    assert meta["training_data"]["sha256"] == iris.content_hash()
    assert meta["training_data"]["train_rows"] == 120
    assert {"scikit-learn", "onnxruntime", "skl2onnx", "python"} <= set(meta["library_versions"])
    assert meta["files"]["model.onnx"] == artifacts.sha256_file(artifacts_dir / "v2" / "model.onnx")
    assert meta["onnx_parity_on_test_split"]["class_agreement"] == 1.0
    assert meta["created_at"]


def test_v1_has_50_trees_and_v2_100(artifacts_dir: Path) -> None:
    trees = {
        name: len(artifacts.load_skops(artifacts_dir / name / "model.skops").estimators_)
        for name in ("v1", "v2")
    }
    assert trees == {"v1": 50, "v2": 100}


def test_training_statistics_describe_the_training_split(
    artifacts_dir: Path, iris: Dataset
) -> None:
    stats = json.loads((artifacts_dir / "training_stats.json").read_text())
    train_x = split_dataset(iris, 0.2, 42).train_x
    petal = stats["features"]["petal_length"]
    assert petal["mean"] == pytest.approx(train_x[:, 2].mean())
    assert petal["std"] == pytest.approx(train_x[:, 2].std(ddof=1))
    assert petal["min"] == train_x[:, 2].min()
    assert petal["quantiles"]["0.5"] == pytest.approx(np.median(train_x[:, 2]))
    assert np.array_equal(np.array(stats["sample"]), train_x)
    assert stats["class_shares"] == pytest.approx([1 / 3] * 3)
    for shares in stats["predicted_class_shares"].values():
        assert sum(shares) == pytest.approx(1.0)
        assert min(shares) > 0.25


def test_manifest_lists_every_file_with_its_hash(artifacts_dir: Path) -> None:
    manifest = json.loads((artifacts_dir / "manifest.json").read_text())
    on_disk = {
        path.relative_to(artifacts_dir).as_posix()
        for path in artifacts_dir.rglob("*")
        if path.is_file() and path.name != "manifest.json"
    }
    assert set(manifest["files"]) == on_disk
    assert manifest["versions"] == ["v1", "v2"]
    for relative, digest in manifest["files"].items():
        assert artifacts.sha256_file(artifacts_dir / relative) == digest


def test_same_seed_gives_same_metrics(iris: Dataset, tmp_path: Path) -> None:
    catalogue = load_catalogue()
    first = train_all(iris, catalogue, tmp_path / "a")
    second = train_all(iris, catalogue, tmp_path / "b")
    assert first == second


def test_a_third_catalogue_entry_is_trained_and_served(iris: Dataset, tmp_path: Path) -> None:
    catalogue = VersionCatalogue(
        versions=[
            ModelVersionSpec(name="v1", algorithm="random_forest", params={"n_estimators": 5}),
            ModelVersionSpec(
                name="v3", algorithm="random_forest", params={"n_estimators": 7, "max_depth": 2}
            ),
        ]
    )
    reports = train_all(iris, catalogue, tmp_path / "out")
    assert [report.name for report in reports] == ["v1", "v3"]
    bundle = artifacts.load_bundle(tmp_path / "out")
    assert set(bundle.versions) == {"v1", "v3"}
    assert bundle.versions["v3"].metadata["params"]["max_depth"] == 2


def test_retraining_replaces_the_folder_without_leftovers(iris: Dataset, tmp_path: Path) -> None:
    out = tmp_path / "out"
    small = VersionCatalogue(
        versions=[
            ModelVersionSpec(name="only", algorithm="random_forest", params={"n_estimators": 3})
        ]
    )
    train_all(iris, load_catalogue(), out)
    train_all(iris, small, out)
    assert sorted(path.name for path in out.iterdir()) == [
        "manifest.json",
        "only",
        "training_stats.json",
    ]
    assert [path.name for path in tmp_path.iterdir()] == ["out"]


def test_unknown_algorithm_is_refused() -> None:
    with pytest.raises(ValueError, match="unknown algorithm 'svm'"):
        build_estimator(ModelVersionSpec(name="v9", algorithm="svm"), 0)


def test_training_refuses_a_folder_that_is_not_an_artifacts_folder(
    iris: Dataset, tmp_path: Path
) -> None:
    out = tmp_path / "documents"
    out.mkdir()
    (out / "notes.txt").write_text("not a model")
    with pytest.raises(ValueError, match=f"{out} is not empty and holds no manifest.json"):
        train_all(iris, load_catalogue(), out)
    assert (out / "notes.txt").read_text() == "not a model"
    assert sorted(path.name for path in out.iterdir()) == ["notes.txt"]


def test_retraining_replaces_only_what_training_wrote(iris: Dataset, tmp_path: Path) -> None:
    out = tmp_path / "out"
    small = VersionCatalogue(
        versions=[
            ModelVersionSpec(name="only", algorithm="random_forest", params={"n_estimators": 3})
        ]
    )
    train_all(iris, small, out)
    (out / "notes.txt").write_text("kept")
    (out / "only" / "README").write_text("also kept")
    train_all(iris, small, out)
    assert (out / "notes.txt").read_text() == "kept"
    assert (out / "only" / "README").read_text() == "also kept"
    manifest = json.loads((out / "manifest.json").read_text())
    assert "notes.txt" not in manifest["files"]
    load_bundle(out)  # still verifies
