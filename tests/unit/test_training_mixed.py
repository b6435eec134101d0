"""Training on mixed-type data (issue #22, section 4): the penguins example end to end through
`mlops train --data`, ONNX models fed one typed input per column, and Iris left as it was."""

from __future__ import annotations

import json
import math
from pathlib import Path
from typing import Any

import numpy as np
import onnx
import onnxruntime
import palmerpenguins
import pandas as pd
import pytest
import skops.io as sio

from mlops_pipeline import artifacts
from mlops_pipeline.cli.main import main
from mlops_pipeline.config import ModelVersionSpec, VersionCatalogue
from mlops_pipeline.schema.model import Column, FeatureSchema, Task
from mlops_pipeline.serving.feed import onnx_feed, onnx_input
from mlops_pipeline.training.onnx_export import PARITY_TOLERANCE
from mlops_pipeline.training.preprocess import pipeline_frame
from mlops_pipeline.training.typed_data import load_typed_csv
from mlops_pipeline.training.typed_trainer import train_typed

ROOT = Path(__file__).resolve().parents[2]
EXAMPLE = ROOT / "examples" / "penguins"
PENGUINS_CSV = Path(palmerpenguins.__file__).parent / "data" / "penguins.csv"
NUMBERS = ["bill_length_mm", "bill_depth_mm", "flipper_length_mm", "body_mass_g"]


@pytest.fixture(scope="module")
def penguins(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """The example's README, step 1: both versions trained by the CLI into a fresh folder."""
    out = tmp_path_factory.mktemp("penguins") / "artifacts"
    args = ["train", "--data", str(PENGUINS_CSV), "--target", "species"]
    args += ["--versions-file", str(EXAMPLE / "model_versions.toml"), "--out", str(out)]
    assert main(args) == 0
    return out


def session(folder: Path) -> onnxruntime.InferenceSession:
    model = (folder / artifacts.MODEL_ONNX).read_bytes()
    return onnxruntime.InferenceSession(model, providers=["CPUExecutionProvider"])


def pipeline(folder: Path) -> Any:
    path = folder / artifacts.MODEL_SKOPS
    return sio.load(path, trusted=sio.get_untrusted_types(file=path))  # our own file


def schema_of(folder: Path) -> FeatureSchema:
    meta = json.loads((folder / artifacts.METADATA).read_text())
    return FeatureSchema.from_json(meta["schema"])


def test_cli_trains_both_versions_and_metadata_holds_the_schema(penguins: Path) -> None:
    manifest = artifacts.verify_files(penguins)  # what `mlops models register` verifies first
    assert manifest["versions"] == ["v1", "v2"]
    schema = schema_of(penguins / "v1")
    assert schema == schema_of(penguins / "v2")
    assert schema.names == [
        "island", *NUMBERS, "sex", "year",
    ]  # fmt: skip
    assert schema.column("island") == Column(
        "island", "string", False, ("Biscoe", "Dream", "Torgersen")
    )
    assert schema.column("sex") == Column("sex", "string", True, ("female", "male"))
    assert schema.column("body_mass_g") == Column("body_mass_g", "double", True)
    assert schema.column("year") == Column("year", "integer", False)
    assert schema.task == Task("classification", ("Adelie", "Chinstrap", "Gentoo"), "species")
    for version, algorithm in [("v1", "random_forest"), ("v2", "xgboost")]:
        meta = json.loads((penguins / version / artifacts.METADATA).read_text())
        assert meta["algorithm"] == algorithm
        assert meta["feature_names"] == schema.names
        assert meta["class_names"] == list(schema.task.classes)
        assert meta["evaluation"]["accuracy"] > 0.9
        assert meta["training_data"]["rows"] == 344
        for parity in (meta["onnx_parity_on_training_sample"], meta["onnx_parity_on_test_split"]):
            assert parity["class_agreement"] == 1.0
            assert parity["max_probability_diff"] <= PARITY_TOLERANCE
    stats = json.loads((penguins / artifacts.TRAINING_STATS).read_text())
    assert stats["categories"]["sex"]["missing_share"] > 0
    assert set(stats["features"]) == {*NUMBERS, "year"}
    assert len(stats["typed_sample"]["sex"]) == stats["n_rows"]


@pytest.mark.parametrize("version", ["v1", "v2"])
def test_onnx_takes_one_typed_input_per_column(penguins: Path, version: str) -> None:
    inputs = {i.name: i.type for i in session(penguins / version).get_inputs()}
    assert inputs == {
        "island": "tensor(string)", "sex": "tensor(string)", "year": "tensor(int64)",
        **dict.fromkeys(NUMBERS, "tensor(double)"),
    }  # fmt: skip


@pytest.mark.parametrize("version", ["v1", "v2"])
def test_onnx_agrees_with_the_pipeline_on_missing_and_unseen_values(
    penguins: Path, version: str
) -> None:
    folder = penguins / version
    schema, model, runner = schema_of(folder), pipeline(folder), session(folder)
    rows = pd.read_csv(PENGUINS_CSV).drop(columns="species")
    edge = pd.DataFrame(
        {
            "island": ["Atlantis", "Biscoe", "Dream", "Torgersen"],  # Atlantis: never seen
            "bill_length_mm": [45.0, math.nan, 39.0, 50.0],
            "bill_depth_mm": [17.0, 15.0, math.nan, 18.0],
            "flipper_length_mm": [200.0, 215.0, 190.0, math.nan],
            "body_mass_g": [4200.0, 5000.0, 3600.0, math.nan],
            "sex": [None, None, "male", "female"],  # None: missing
            "year": [2008, 2009, 2007, 2010],
        }
    )
    frame = pd.concat([rows, edge], ignore_index=True)
    # Per-column lists as a request carries them: None for missing, the serving feed decides.
    columns = {name: [None if pd.isna(v) else v for v in frame[name]] for name in schema.names}
    feed = onnx_feed(schema, columns)
    assert feed["sex"][-4:, 0].tolist() == ["", "", "male", "female"]
    labels, probabilities = runner.run(None, feed)
    expected = model.predict_proba(pipeline_frame(schema, frame))
    assert probabilities.shape == (len(frame), 3)
    assert np.array_equal(labels, model.predict(pipeline_frame(schema, frame)))
    assert np.max(np.abs(probabilities - expected)) <= PARITY_TOLERANCE
    assert np.allclose(probabilities.sum(axis=1), 1, atol=1e-5)


def test_onnx_feed_types_and_missing_values() -> None:
    schema = FeatureSchema(
        (
            Column("x", "double", True),
            Column("n", "integer"),
            Column("m", "integer", True),
            Column("b", "boolean"),
            Column("c", "boolean", True),
            Column("s", "string", True, ("a", "b")),
        ),
        Task(classes=("no", "yes")),
    )
    assert [onnx_input(c) for c in schema.columns] == [
        "double", "int64", "double", "bool", "double", "string",
    ]  # fmt: skip
    feed = onnx_feed(
        schema,
        {"x": [1.5, None], "n": [1, 2], "m": [3, None], "b": [True, False], "c": [None, True],
         "s": ["a", None]},
    )  # fmt: skip
    assert feed["x"].dtype == np.float64
    assert np.isnan(feed["x"][1, 0])
    assert feed["n"].dtype == np.int64
    assert feed["n"].shape == (2, 1)
    assert np.isnan(feed["m"][1, 0])
    assert feed["c"][:, 0].tolist()[1] == 1.0
    assert feed["b"].dtype == np.bool_
    assert feed["s"].dtype == object
    assert feed["s"][:, 0].tolist() == ["a", ""]
    # A TypedBatch's placeholders plus missing masks give the same feed.
    masked = onnx_feed(
        schema,
        {"x": np.array([1.5, 0.0]), "n": np.array([1, 2]), "m": np.array([3, 0]),
         "b": np.array([True, False]), "c": np.array([False, True]),
         "s": np.array(["a", ""], dtype=object)},
        {"x": np.array([False, True]), "m": np.array([False, True]),
         "c": np.array([True, False]), "s": np.array([False, True])},
    )  # fmt: skip
    for name in ("n", "b", "s"):
        assert np.array_equal(masked[name], feed[name])
    for name in ("x", "m", "c"):
        assert np.array_equal(masked[name], feed[name], equal_nan=True)
    with pytest.raises(ValueError, match="column 'n' is required"):
        onnx_feed(schema, {**{k: [1.0] for k in "xmc"}, "n": [None], "b": [True], "s": ["a"]})


def test_booleans_and_nullable_integers_train_and_export(tmp_path: Path) -> None:
    rng = np.random.default_rng(0)
    n = 120
    flag = rng.random(n) < 0.5
    count = rng.integers(0, 5, n)
    data = pd.DataFrame(
        {
            "flag": flag,
            "maybe": pd.Series(
                np.where(rng.random(n) < 0.2, None, rng.random(n) < 0.5), dtype=object
            ),
            "count": pd.Series(np.where(rng.random(n) < 0.1, None, count), dtype="Int64"),
            "label": np.where(flag ^ (count > 2), "yes", "no"),
        }
    )
    csv = tmp_path / "flags.csv"
    data.to_csv(csv, index=False)
    # pandas reads an integer column with a gap as floats: the versions file says integer.
    dataset = load_typed_csv(csv, "label", {"count": {"type": "integer"}})
    assert [(c.type, c.nullable) for c in dataset.schema.columns] == [
        ("boolean", False), ("boolean", True), ("integer", True),
    ]  # fmt: skip
    catalogue = VersionCatalogue(
        versions=[
            ModelVersionSpec(name="lr", algorithm="logistic_regression"),
            ModelVersionSpec(name="gbm", algorithm="lightgbm", params={"n_estimators": 20}),
        ]
    )
    reports = train_typed(dataset, catalogue, tmp_path / "out")
    assert all(report.max_probability_diff <= PARITY_TOLERANCE for report in reports)
    model = onnx.load(tmp_path / "out" / "lr" / artifacts.MODEL_ONNX)
    types = {i.name: i.type.tensor_type.elem_type for i in model.graph.input}
    assert types == {
        "flag": onnx.TensorProto.BOOL, "maybe": onnx.TensorProto.DOUBLE,
        "count": onnx.TensorProto.DOUBLE,
    }  # fmt: skip


def test_a_csv_neither_numeric_nor_trainable_names_both_reasons(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    csv = tmp_path / "one_class.csv"
    csv.write_text("island,label\n" + "Dream,x\n" * 12)
    assert (
        main(["train", "--data", str(csv), "--target", "label", "--out", str(tmp_path / "o")]) == 2
    )
    err = capsys.readouterr().err
    assert "'Dream' is not a number; read as mixed-type data:" in err
    assert "two classes" in err


def test_iris_default_is_unchanged(tmp_path: Path) -> None:
    out = tmp_path / "artifacts"
    assert main(["train", "--out", str(out)]) == 0
    meta = json.loads((out / "v1" / artifacts.METADATA).read_text())
    assert "schema" not in meta
    assert meta["algorithm"] == "random_forest"
    model = onnx.load(out / "v1" / artifacts.MODEL_ONNX)
    assert [(i.name, i.type.tensor_type.elem_type) for i in model.graph.input] == [
        ("input", onnx.TensorProto.DOUBLE)
    ]
    assert {node.op_type for node in model.graph.node} == {"TreeEnsembleClassifier"}
    assert json.loads((out / artifacts.TRAINING_STATS).read_text())["sample"] is not None
