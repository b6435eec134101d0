"""The penguins example (issue #22) for tests: its CSV, rows, classes and a trained bundle.

Shared by the typed serving tests (HTTP, gRPC, OpenAPI, fuzzing): each module trains the
example's versions once with :func:`train_penguins` and builds its settings with
:func:`penguins_settings`.
"""

from __future__ import annotations

import math
from pathlib import Path
from typing import Any

import palmerpenguins
import requests

from mlops_pipeline.cli.main import main
from mlops_pipeline.config import Settings
from tests.support.helpers import ADMIN, ADMIN_TOKEN

ROOT = Path(__file__).resolve().parents[2]
PENGUINS_CSV = Path(palmerpenguins.__file__).parent / "data" / "penguins.csv"
VERSIONS_FILE = ROOT / "examples" / "penguins" / "model_versions.toml"
CLASSES = ["Adelie", "Chinstrap", "Gentoo"]
ROW: dict[str, Any] = {
    "island": "Torgersen",
    "bill_length_mm": 39.1,
    "bill_depth_mm": 18.7,
    "flipper_length_mm": 181.0,
    "body_mass_g": 3750.0,
    "sex": "male",
    "year": 2007,
}
GENTOO = {**ROW, "island": "Biscoe", "bill_length_mm": 50.0, "bill_depth_mm": 15.0}
GENTOO |= {"flipper_length_mm": 220.0, "body_mass_g": 5500.0}
# The V2 datatype of each column (the others are FP64).
DATATYPES = {"island": "BYTES", "sex": "BYTES", "year": "INT64"}


def train_penguins(out: Path) -> Path:
    """The example's versions (random forest, xgboost), trained by the CLI into ``out``."""
    args = ["train", "--data", str(PENGUINS_CSV), "--target", "species", "--out", str(out)]
    assert main([*args, "--versions-file", str(VERSIONS_FILE)]) == 0
    return out


def penguins_settings(artifacts: Path, db_path: Path, **overrides: Any) -> Settings:
    values: dict[str, Any] = {
        "artifacts_dir": artifacts,
        "db_path": db_path,
        "max_batch_rows": 50,
        "admin_token": ADMIN_TOKEN,
        "model_name": "penguins",
        "log_predictions": True,  # typed rows logged as JSON by column (storage/typed_rows.py)
    }
    return Settings(**(values | overrides))


def records(frame: Any) -> list[dict[str, Any]]:
    """A pandas frame's rows by column name, None where the CSV has no value."""
    return [
        {k: None if isinstance(v, float) and math.isnan(v) else v for k, v in row.items()}
        for row in frame.to_dict(orient="records")
    ]


def labelled(frame: Any) -> list[tuple[dict[str, Any], int]]:
    """Each row of a frame of the CSV (species included) with its class index."""
    classes = [CLASSES.index(name) for name in frame["species"]]
    return list(zip(records(frame.drop(columns="species")), classes, strict=True))


def pinned_infer(url: str, version: str, rows: list[dict[str, Any]]) -> dict[str, Any]:
    """One V2 infer pinned to ``version`` (as the admin): a named input per column, strings as
    BYTES, None where missing; the answer's body, after checking it is a 200."""
    inputs = [
        {"name": name, "shape": [len(rows), 1], "datatype": DATATYPES.get(name, "FP64"),
         "data": [row[name] for row in rows]}
        for name in rows[0]
    ]  # fmt: skip
    answer = requests.post(
        f"{url}/v2/models/penguins/versions/{version}/infer",
        json={"inputs": inputs},
        headers=ADMIN,
        timeout=10,
    )
    assert answer.status_code == 200, answer.text
    return dict(answer.json())
