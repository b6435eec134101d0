"""The penguins example served by `mlops serve` (issue #22): /predict by column name and V2 through
tritonclient.http and tritonclient.grpc with their defaults (named inputs, BYTES for strings,
binary tensors over HTTP, raw_input_contents over gRPC)."""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path

import numpy as np
import palmerpenguins
import pytest
import requests
import tritonclient.grpc as triton_grpc
import tritonclient.http as triton_http
from tritonclient.utils import InferenceServerException

from mlops_pipeline.cli.main import main
from tests.e2e.test_oip_clients import wait_for_grpc
from tests.support.servers import free_port, running_api

pytestmark = pytest.mark.e2e

ROOT = Path(__file__).resolve().parents[2]
PENGUINS_CSV = Path(palmerpenguins.__file__).parent / "data" / "penguins.csv"
CLASSES = ["Adelie", "Chinstrap", "Gentoo"]
ROWS = [
    {"island": "Torgersen", "bill_length_mm": 39.1, "bill_depth_mm": 18.7,
     "flipper_length_mm": 181.0, "body_mass_g": 3750.0, "sex": None, "year": 2007},
    {"island": "Atlantis", "bill_length_mm": 50.0, "bill_depth_mm": 15.0,
     "flipper_length_mm": 220.0, "body_mass_g": 5500.0, "sex": "male", "year": 2008},
]  # fmt: skip
EXPECTED = ["Adelie", "Gentoo"]


@pytest.fixture(scope="module")
def grpc_port() -> int:
    return free_port()


@pytest.fixture(scope="module")
def server(tmp_path_factory: pytest.TempPathFactory, grpc_port: int) -> Iterator[str]:
    folder = tmp_path_factory.mktemp("penguins-e2e")
    out = folder / "artifacts"
    versions = ROOT / "examples" / "penguins" / "model_versions.toml"
    args = ["train", "--data", str(PENGUINS_CSV), "--target", "species", "--out", str(out)]
    assert main([*args, "--versions-file", str(versions)]) == 0
    env = {"MLOPS_MODEL_NAME": "penguins", "MLOPS_GRPC_PORT": str(grpc_port)}
    with running_api(out, folder / "log.db", extra_env=env, log_path=folder / "server.log") as url:
        yield url


def test_predict_by_column_name(server: str) -> None:
    single = requests.post(f"{server}/predict", json={"features": ROWS[0]}, timeout=10)
    assert single.status_code == 200, single.text
    assert single.json()["class_name"] == "Adelie"
    batch = requests.post(f"{server}/predict", json={"instances": ROWS}, timeout=10)
    assert batch.json()["class_names"] == EXPECTED
    refused = requests.post(f"{server}/predict", json={"features": {"island": 3}}, timeout=10)
    assert refused.status_code == 400
    assert refused.json()["code"] in ("wrong_type", "missing_column")
    metrics = requests.get(f"{server}/metrics", timeout=10).text
    assert 'mlops_unseen_categories_total{column="island"} 1.0' in metrics


def test_tritonclient_http_with_its_defaults(server: str) -> None:
    client = triton_http.InferenceServerClient(server.removeprefix("http://"))
    metadata = client.get_model_metadata("penguins")
    described = {i["name"]: i["datatype"] for i in metadata["inputs"]}
    assert described["island"] == "BYTES"
    assert described["year"] == "INT64"
    inputs = []
    for name, datatype in described.items():
        dtype = {"BYTES": object, "INT64": np.int64, "FP64": np.float64}[datatype]
        values = [row[name] if row[name] is not None else "" for row in ROWS]
        if datatype == "FP64":
            values = [np.nan if v == "" else v for v in values]
        array = np.array(values, dtype=dtype).reshape(-1, 1)
        tensor = triton_http.InferInput(name, list(array.shape), datatype)
        tensor.set_data_from_numpy(array)
        inputs.append(tensor)
    result = client.infer("penguins", inputs)
    assert [CLASSES[i] for i in result.as_numpy("label")] == EXPECTED
    assert result.as_numpy("probabilities").shape == (2, 3)


def test_tritonclient_grpc_with_its_defaults(server: str, grpc_port: int) -> None:
    with triton_grpc.InferenceServerClient(f"127.0.0.1:{grpc_port}") as client:
        wait_for_grpc(client)
        metadata = client.get_model_metadata("penguins", as_json=True)
        described = {i["name"]: i["datatype"] for i in metadata["inputs"]}
        assert described["island"] == "BYTES"
        assert described["year"] == "INT64"
        assert {tuple(i["shape"]) for i in metadata["inputs"]} == {("-1", "1")}
        inputs = []
        for name, datatype in described.items():
            dtype = {"BYTES": object, "INT64": np.int64, "FP64": np.float64}[datatype]
            values = [row[name] if row[name] is not None else "" for row in ROWS]
            array = np.array(values, dtype=dtype).reshape(-1, 1)
            tensor = triton_grpc.InferInput(name, list(array.shape), datatype)
            tensor.set_data_from_numpy(array)  # raw_input_contents: tritonclient's default
            inputs.append(tensor)
        result = client.infer("penguins", inputs, request_id="penguins-grpc")
        assert [CLASSES[i] for i in result.as_numpy("label")] == EXPECTED
        assert result.as_numpy("probabilities").shape == (2, 3)
        with pytest.raises(InferenceServerException, match="input 'year': missing") as refused:
            client.infer("penguins", inputs[:-1])
        assert refused.value.status() == "StatusCode.INVALID_ARGUMENT"
