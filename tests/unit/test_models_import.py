"""`mlops models import`: each format converted and checked, every refusal with its message."""

from __future__ import annotations

import json
import pickle
from pathlib import Path
from typing import Any
from unittest.mock import ANY

import joblib  # type: ignore[import-untyped]
import numpy as np
import pytest

from mlops_pipeline.artifacts import ArtifactBundle
from mlops_pipeline.bootstrap import Components
from mlops_pipeline.cli.main import main
from mlops_pipeline.config import Settings
from mlops_pipeline.importing.common import ImportRefused, Source
from mlops_pipeline.importing.parity import check_parity, generated_sample
from mlops_pipeline.importing.service import convert, served_schema
from mlops_pipeline.training.data import Dataset
from mlops_pipeline.training.onnx_export import PARITY_TOLERANCE
from tests.support import import_models, penguins_models


class Custom:
    """A type no trusted list names."""

    def __init__(self) -> None:
        self.weights = [1.0, 2.0]


def _convert(path: Path, bundle: ArtifactBundle, tmp_path: Path, **kwargs: Path) -> dict[str, Any]:
    return convert(path, "v9", bundle, tmp_path / "out", **kwargs).metadata


@pytest.mark.parametrize("kind", ["skops", "xgboost-json", "xgboost-ubj", "lightgbm-text"])
def test_each_format_converts_with_parity_and_lineage(
    kind: str, iris: Dataset, bundle: ArtifactBundle, tmp_path: Path
) -> None:
    build = {
        "skops": lambda: import_models.skops_pipeline(iris, tmp_path),
        "xgboost-json": lambda: import_models.xgboost_booster(iris, tmp_path),
        "xgboost-ubj": lambda: import_models.xgboost_booster(iris, tmp_path, "model.ubj"),
        "lightgbm-text": lambda: import_models.lightgbm_text(iris, tmp_path),
    }
    path = build[kind]()
    metadata = _convert(path, bundle, tmp_path)
    lineage = metadata["import"]
    assert lineage["source_format"] == kind
    assert len(lineage["sha256"]) == 64
    assert "onnxmltools" in lineage["converter_versions"]
    assert lineage["parity"]["max_probability_diff"] <= PARITY_TOLERANCE
    assert lineage["parity"]["class_agreement"] == 1.0
    assert metadata["class_names"] == list(bundle.class_names)
    assert metadata["default_weight"] == 0.0
    assert (tmp_path / "out" / "v9" / "model.onnx").read_bytes()
    assert json.loads((tmp_path / "out" / "v9" / "metadata.json").read_text())["files"]


def test_an_onnx_file_with_its_schema_and_a_sample(
    bundle: ArtifactBundle, artifacts_dir: Path, iris: Dataset, tmp_path: Path
) -> None:
    schema_file = tmp_path / "schema.json"
    schema_file.write_text(json.dumps(served_schema(bundle).to_json()))
    sample = tmp_path / "sample.csv"
    import_models.frame(iris).to_csv(sample, index=False)
    metadata = _convert(
        artifacts_dir / "v1" / "model.onnx", bundle, tmp_path, schema_file=schema_file,
        sample=sample,
    )  # fmt: skip
    assert metadata["import"]["source_format"] == "onnx"
    assert metadata["import"]["parity"]["rows"] == len(iris.labels)
    with pytest.raises(ImportRefused, match="give its schema file with --schema"):
        _convert(artifacts_dir / "v1" / "model.onnx", bundle, tmp_path)


def test_import_registers_at_weight_zero_for_every_replica(
    cli_env: Settings,
    components: Components,
    iris: Dataset,
    tmp_path: Path,
    capsys: pytest.CaptureFixture[str],
) -> None:
    path = import_models.skops_pipeline(iris, tmp_path)
    assert main(["models", "import", str(path), "--version", "v7", "--actor", "alice"]) == 0
    out = capsys.readouterr().out
    assert "imported v7 from skops" in out
    assert "weight 0" in out
    assert components.model_sync is not None
    assert components.model_sync.sync() == ["v7"]
    assert "v7" in components.service.versions
    storage = components.storage
    assert storage is not None
    stored = {m.version: m for m in storage.models.catalog()}["v7"]
    assert stored.metadata["import"] == ANY
    assert "'source_format': 'skops'" in str(stored.metadata["import"])
    assert main(["models", "import", str(path), "--version", "v7"]) == 2  # a name is never reused


def test_an_unconvertible_step_is_named(
    iris: Dataset, bundle: ArtifactBundle, tmp_path: Path
) -> None:
    from sklearn.preprocessing import FunctionTransformer

    path = import_models.skops_pipeline(iris, tmp_path, FunctionTransformer(np.log1p))
    with pytest.raises(ImportRefused, match=r"step 'functiontransformer' \(FunctionTransformer\)"):
        _convert(path, bundle, tmp_path)


def test_a_schema_that_differs_from_the_served_one_is_refused(
    iris: Dataset, bundle: ArtifactBundle, tmp_path: Path
) -> None:
    import skops.io as sio
    from sklearn.tree import DecisionTreeClassifier

    rows = import_models.frame(iris).rename(columns={"petal_width": "petal_w"})
    model = DecisionTreeClassifier(random_state=0).fit(rows, import_models.class_names(iris))
    sio.dump(model, tmp_path / "tree.skops")
    with pytest.raises(ImportRefused) as refused:
        _convert(tmp_path / "tree.skops", bundle, tmp_path)
    message = str(refused.value)
    assert "schema differs from the served versions'" in message
    assert "column 'petal_width' is missing in the candidate" in message
    assert "column 'petal_w' is only in the candidate" in message
    two = DecisionTreeClassifier().fit(import_models.frame(iris), iris.labels.clip(0, 1))
    sio.dump(two, tmp_path / "two.skops")
    with pytest.raises(ImportRefused, match=r"classes: .*'virginica'.* missing in the candidate"):
        _convert(tmp_path / "two.skops", bundle, tmp_path)


def test_a_parity_failure_names_the_row_and_the_difference(bundle: ArtifactBundle) -> None:
    schema = served_schema(bundle)
    rows = generated_sample(schema, bundle.training_stats)
    onnx = bundle.versions["v1"].onnx_bytes
    import onnxruntime

    from mlops_pipeline.importing.typed import feed

    session = onnxruntime.InferenceSession(onnx, providers=["CPUExecutionProvider"])
    answers = session.run(None, feed(schema, rows))[1].astype(np.float64)
    answers[17] = np.roll(answers[17], 1)  # the "original" disagrees on one row only

    source = Source("test", "shifted", 3, lambda frame: answers, lambda schema: onnx)
    with pytest.raises(ImportRefused) as refused:
        check_parity(source, onnx, schema, rows, "rows generated from the schema")
    message = str(refused.value)
    assert message.startswith("parity failure on row 17 of the rows generated from the schema")
    assert "sepal_length=" in message
    assert "differ from the original's by" in message
    assert f"(tolerance {PARITY_TOLERANCE:g})" in message


def test_pickle_and_joblib_files_are_refused_by_content(
    bundle: ArtifactBundle, tmp_path: Path
) -> None:
    from sklearn.dummy import DummyClassifier

    model = DummyClassifier().fit([[0.0]] * 3, [0, 1, 2])
    disguised = tmp_path / "model.skops"  # the name says skops; the bytes say pickle
    disguised.write_bytes(pickle.dumps(model))
    compressed = tmp_path / "model.bin"
    joblib.dump(model, compressed, compress=3)
    for path in (disguised, compressed):
        with pytest.raises(ImportRefused) as refused:
            _convert(path, bundle, tmp_path)
        assert "is a pickle (or joblib) file" in str(refused.value)
        assert "skops.io.dump(model, 'model.skops')" in str(refused.value)


def test_untrusted_skops_types_are_listed(bundle: ArtifactBundle, tmp_path: Path) -> None:
    import skops.io as sio

    sio.dump(Custom(), tmp_path / "custom.skops")
    with pytest.raises(ImportRefused, match=r"outside the trusted list, refused: \['tests\.unit"):
        _convert(tmp_path / "custom.skops", bundle, tmp_path)


def test_a_pickled_mlflow_model_is_refused_without_loading_it(
    bundle: ArtifactBundle, tmp_path: Path
) -> None:
    directory = tmp_path / "mlflow"
    directory.mkdir()
    (directory / "model.pkl").write_bytes(pickle.dumps({"not": "loaded"}))
    (directory / "MLmodel").write_text(
        "flavors:\n  sklearn:\n    pickled_model: model.pkl\n"
        "    serialization_format: cloudpickle\n"
        'signature:\n  inputs: \'[{"type": "double", "name": "a"}]\'\n'
    )
    with pytest.raises(ImportRefused, match=r"model\.pkl is a pickle"):
        _convert(directory, bundle, tmp_path)


@pytest.fixture(scope="module")
def penguins_bundle(tmp_path_factory: pytest.TempPathFactory) -> ArtifactBundle:
    """The penguins example as trained by `mlops train`: the served mixed-type schema."""
    from mlops_pipeline.artifacts import load_bundle

    out = tmp_path_factory.mktemp("penguins") / "artifacts"
    versions = Path(__file__).resolve().parents[2] / "examples/penguins/model_versions.toml"
    csv = str(penguins_models.PENGUINS_CSV)
    args = ["train", "--data", csv, "--target", "species", "--versions-file", str(versions)]
    assert main([*args, "--out", str(out)]) == 0
    return load_bundle(out)


def test_a_penguins_pipeline_converts_with_parity_on_missing_and_unseen_values(
    penguins_bundle: ArtifactBundle, tmp_path: Path
) -> None:
    import onnxruntime
    import pandas as pd

    from mlops_pipeline.importing.typed import feed

    path = penguins_models.skops_pipeline(tmp_path)
    rows = pd.read_csv(penguins_models.PENGUINS_CSV).drop(columns="species")
    rows.loc[0:40, "island"] = "Atlantis"  # never seen in training
    rows.loc[20:60, "sex"] = None
    rows.to_csv(tmp_path / "sample.csv", index=False)
    metadata = _convert(path, penguins_bundle, tmp_path, sample=tmp_path / "sample.csv")
    parity = metadata["import"]["parity"]
    assert parity["rows"] == len(rows)
    assert parity["class_agreement"] == 1.0
    assert parity["max_probability_diff"] <= PARITY_TOLERANCE
    assert metadata["schema"] == served_schema(penguins_bundle).to_json()
    assert metadata["class_names"] == ["Adelie", "Chinstrap", "Gentoo"]
    # The ONNX model fed as serving feeds it ("" for a missing sex) answers as the original fed
    # NaN: the forest's float32 rounding and the imputers as scikit-learn computes them.
    onnx_bytes = (tmp_path / "out" / "v9" / "model.onnx").read_bytes()
    import onnx

    bridge = [
        n for n in onnx.load_from_string(onnx_bytes).graph.node if n.name.startswith("bridge")
    ]
    assert [n.op_type for n in bridge] == ["Cast", "Cast"]  # float32 and back, as the trees read
    session = onnxruntime.InferenceSession(onnx_bytes, providers=["CPUExecutionProvider"])
    schema = served_schema(penguins_bundle)
    _, answered = session.run(None, feed(schema, rows.iloc[15:25]))
    import skops.io as sio

    from mlops_pipeline.importing.sklearn_model import TRUSTED_TYPES

    original = sio.load(path, trusted=list(TRUSTED_TYPES)).predict_proba(rows.iloc[15:25])
    np.testing.assert_allclose(answered, original, atol=PARITY_TOLERANCE)
    # Generated rows when no sample is given (categories drawn, a tenth missing).
    generated = _convert(path, penguins_bundle, tmp_path)["import"]["parity"]
    assert generated["on"] == "rows generated from the schema"
    assert generated["class_agreement"] == 1.0


@pytest.mark.parametrize("estimator", ["hist_gradient_boosting", "logistic_regression"])
def test_penguins_pipelines_with_other_estimators(
    estimator: str, penguins_bundle: ArtifactBundle, tmp_path: Path
) -> None:
    from sklearn.ensemble import HistGradientBoostingClassifier
    from sklearn.linear_model import LogisticRegression

    model = {
        "hist_gradient_boosting": HistGradientBoostingClassifier(max_iter=30, random_state=0),
        "logistic_regression": LogisticRegression(max_iter=5000),
    }[estimator]
    path = penguins_models.skops_pipeline(tmp_path, model)
    parity = _convert(path, penguins_bundle, tmp_path)["import"]["parity"]
    assert parity["max_probability_diff"] <= PARITY_TOLERANCE


def test_a_penguins_pipeline_missing_a_served_column_is_refused(
    penguins_bundle: ArtifactBundle, tmp_path: Path
) -> None:
    path = penguins_models.skops_pipeline(tmp_path, drop=("year",))
    with pytest.raises(ImportRefused) as refused:
        _convert(path, penguins_bundle, tmp_path)
    message = str(refused.value)
    assert "v9's schema differs from the served versions'" in message
    assert "column 'year' is missing in the candidate" in message


def test_an_iris_model_is_refused_by_a_penguins_deployment(
    iris: Dataset, penguins_bundle: ArtifactBundle, tmp_path: Path
) -> None:
    path = import_models.skops_pipeline(iris, tmp_path)
    with pytest.raises(ImportRefused, match=r"column 'island' is missing in the candidate"):
        _convert(path, penguins_bundle, tmp_path)
