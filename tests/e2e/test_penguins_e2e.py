"""The penguins example served by `mlops serve` (issue #22): /predict by column name and V2 through
tritonclient.http with its defaults (named inputs, BYTES for strings, binary tensors)."""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path

import numpy as np
import palmerpenguins
import pytest
import requests
import tritonclient.http as triton_http

from mlops_pipeline.cli.main import main
from tests.support.servers import running_api

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
def server(tmp_path_factory: pytest.TempPathFactory) -> Iterator[str]:
    folder = tmp_path_factory.mktemp("penguins-e2e")
    out = folder / "artifacts"
    versions = ROOT / "examples" / "penguins" / "model_versions.toml"
    args = ["train", "--data", str(PENGUINS_CSV), "--target", "species", "--out", str(out)]
    assert main([*args, "--versions-file", str(versions)]) == 0
    with running_api(
        out, folder / "log.db", extra_env={"MLOPS_MODEL_NAME": "penguins"},
        log_path=folder / "server.log",
    ) as url:  # fmt: skip
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
