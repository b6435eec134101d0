from __future__ import annotations

import json
import operator
import shutil
from pathlib import Path

import pytest

from mlops_pipeline import artifacts
from mlops_pipeline.artifacts import ArtifactError, load_bundle, verify_files


@pytest.fixture
def copied(artifacts_dir: Path, tmp_path: Path) -> Path:
    target = tmp_path / "artifacts"
    shutil.copytree(artifacts_dir, target)
    return target


def test_bundle_loads_versions_and_statistics(bundle: artifacts.ArtifactBundle) -> None:
    assert list(bundle.versions) == ["v1", "v2"]
    assert bundle.feature_names == ("sepal_length", "sepal_width", "petal_length", "petal_width")
    assert bundle.default_weights == {"v1": 0.5, "v2": 0.5}
    assert bundle.versions["v1"].onnx_bytes[:2] == b"\x08\x08"  # protobuf: ir_version field


def test_missing_file_is_named(copied: Path) -> None:
    (copied / "v2" / "model.onnx").unlink()
    with pytest.raises(ArtifactError, match=r"artifact missing: .*v2/model\.onnx"):
        load_bundle(copied)


def test_tampered_file_is_named(copied: Path) -> None:
    path = copied / "v1" / "model.onnx"
    path.write_bytes(path.read_bytes() + b"\x00")
    with pytest.raises(ArtifactError, match=r"hash mismatch: .*v1/model\.onnx"):
        verify_files(copied)


def test_tampered_statistics_are_refused(copied: Path) -> None:
    path = copied / "training_stats.json"
    stats = json.loads(path.read_text())
    stats["features"]["petal_length"]["mean"] = 99.0
    path.write_text(json.dumps(stats))
    with pytest.raises(ArtifactError, match=r"training_stats\.json"):
        load_bundle(copied)


def test_missing_manifest_says_to_train(tmp_path: Path) -> None:
    with pytest.raises(ArtifactError, match="run `mlops train` first"):
        load_bundle(tmp_path)


def test_skops_refuses_untrusted_types(tmp_path: Path) -> None:
    from sklearn.preprocessing import FunctionTransformer

    path = tmp_path / "evil.skops"
    artifacts.save_skops(FunctionTransformer(operator.add), path)
    with pytest.raises(ArtifactError, match=r"untrusted types \['_operator.add'\]"):
        artifacts.load_skops(path)


def test_skops_loads_a_forest(artifacts_dir: Path) -> None:
    model = artifacts.load_skops(artifacts_dir / "v1" / "model.skops")
    assert model.n_estimators == 50
