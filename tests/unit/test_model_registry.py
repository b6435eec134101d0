"""Model versions added and retired at run time: `mlops train --only`, `mlops models`, sync."""

from __future__ import annotations

import hashlib
import json
import shutil
from pathlib import Path

import pytest
from flask.testing import FlaskClient

from mlops_pipeline.bootstrap import Components
from mlops_pipeline.cli.main import main
from mlops_pipeline.config import Settings, database_url
from mlops_pipeline.storage import open_storage
from tests.support.helpers import ADMIN, V3_CATALOGUE


@pytest.fixture
def candidate_dir(v3_candidate: Path) -> Path:
    """v3 alone, trained into a folder of its own (as a team trains a candidate)."""
    return v3_candidate


def test_train_only_adds_to_an_artifacts_folder_and_keeps_the_others(
    artifacts_dir: Path, candidate_dir: Path, tmp_path: Path
) -> None:
    manifest = json.loads((candidate_dir / "manifest.json").read_text())
    assert manifest["versions"] == ["v3"]
    both = tmp_path / "artifacts"
    shutil.copytree(artifacts_dir, both)
    before = (both / "v1" / "model.onnx").read_bytes()
    catalogue = tmp_path / "versions.toml"
    catalogue.write_text(V3_CATALOGUE)
    assert (
        main(["train", "--versions-file", str(catalogue), "--out", str(both), "--only", "v3"]) == 0
    )
    merged = json.loads((both / "manifest.json").read_text())
    assert merged["versions"] == ["v1", "v2", "v3"]
    assert merged["default_weights"] == {"v1": 0.5, "v2": 0.5, "v3": 0.0}
    assert (both / "v1" / "model.onnx").read_bytes() == before  # untouched
    assert (
        main(["train", "--versions-file", str(catalogue), "--out", str(both), "--only", "v9"]) == 2
    )


def test_register_serves_on_the_next_sync_with_weight_zero(
    cli_env: Settings,
    components: Components,
    candidate_dir: Path,
    capsys: pytest.CaptureFixture[str],
) -> None:
    service, sync = components.service, components.model_sync
    assert sync is not None
    assert (
        main(["models", "register", str(candidate_dir), "--version", "v3", "--actor", "alice"]) == 0
    )
    assert "registered v3" in capsys.readouterr().out
    assert "v3" not in service.versions
    assert sync.sync() == ["v3"]
    assert service.versions == ["v1", "v2", "v3"]
    assert service.router.weights.get("v3", 0.0) == 0.0
    assert service.models()["v3"]["algorithm"] == "random_forest"
    assert components.experiment is not None
    assert components.experiment.versions == ["v1", "v2", "v3"]
    # Registered once: the name is never reused.
    assert main(["models", "register", str(candidate_dir), "--version", "v3"]) == 2
    assert "registered before" in capsys.readouterr().err


def test_register_refuses_what_is_not_a_good_model(
    cli_env: Settings, candidate_dir: Path, tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    assert main(["models", "register", str(candidate_dir), "--version", "v7"]) == 2
    assert "holds no version 'v7'" in capsys.readouterr().err
    assert main(["models", "register", str(cli_env.artifacts_dir), "--version", "v1"]) == 2
    assert "already served" in capsys.readouterr().err
    tampered = tmp_path / "tampered"
    shutil.copytree(candidate_dir, tampered)
    (tampered / "v3" / "model.onnx").write_bytes(b"not a model")
    assert main(["models", "register", str(tampered), "--version", "v3"]) == 2
    assert "refusing to register" in capsys.readouterr().err


def test_replicas_refuse_bytes_that_changed_and_keep_serving(
    cli_env: Settings, components: Components
) -> None:
    storage = open_storage(database_url(cli_env))
    storage.models.register("v4", b"garbage", "00" * 32, {"algorithm": "x"}, "mallory", 1.0)
    storage.close()
    assert components.model_sync is not None
    assert components.model_sync.sync() == []
    actual = hashlib.sha256(b"garbage").hexdigest()
    # both hashes named: the bytes' own, and the one they were registered under
    assert components.model_sync.refused["v4"] == (
        f"v4: model.onnx has SHA-256 {actual[:12]}, registered as {'00' * 6};"
        " refusing bytes that changed"
    )
    assert components.service.versions == ["v1", "v2"]


def test_retire_needs_zero_traffic(
    cli_env: Settings,
    components: Components,
    candidate_dir: Path,
    capsys: pytest.CaptureFixture[str],
) -> None:
    assert main(["models", "retire", "v1"]) == 2
    assert "50% of the traffic" in capsys.readouterr().err
    assert main(["models", "register", str(candidate_dir), "--version", "v3"]) == 0
    assert components.model_sync is not None
    components.model_sync.sync()
    assert main(["models", "retire", "v3"]) == 0
    assert components.model_sync.sync() == ["v3"]
    assert components.service.versions == ["v1", "v2"]
    assert main(["models", "list"]) == 0
    assert "v3          retired" in capsys.readouterr().out


def test_shadow_scoring_is_switched_on_and_off_at_run_time(
    cli_env: Settings,
    components: Components,
    candidate_dir: Path,
    client: FlaskClient,
) -> None:
    assert main(["models", "register", str(candidate_dir), "--version", "v3"]) == 0
    assert components.model_sync is not None
    components.model_sync.sync()
    assert client.get("/config").get_json()["shadow_version"] is None
    refused = client.put("/config/shadow", json={"version": "v9"}, headers=ADMIN)
    assert (refused.status_code, refused.get_json()["code"]) == (400, "unknown_version")
    assert client.put("/config/shadow", json={"version": "v3"}).status_code == 401
    switched = client.put("/config/shadow", json={"version": "v3"}, headers=ADMIN)
    assert switched.get_json() == {"shadow_version": "v3"}
    assert client.get("/config").get_json()["shadow_version"] == "v3"
    for _ in range(5):
        client.post("/predict", json={"features": [5.1, 3.5, 1.4, 0.2]})
    assert components.service.shadow is not None
    components.service.shadow.drain()
    shadow = client.get("/experiment").get_json()["shadow"]
    assert shadow["v3"]["rows"] == 5
    assert client.put("/config/shadow", json={"version": None}, headers=ADMIN).status_code == 200
    assert components.service.shadow is None
