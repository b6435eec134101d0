"""The penguins example (issue #22) for tests: its CSV, rows, classes and a trained bundle.

Shared by the typed serving tests (HTTP, gRPC, OpenAPI, fuzzing): each module trains the
example's versions once with :func:`train_penguins` and builds its settings with
:func:`penguins_settings`.
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

import palmerpenguins

from mlops_pipeline.cli.main import main
from mlops_pipeline.config import Settings
from tests.support.helpers import ADMIN_TOKEN

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
