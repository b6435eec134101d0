"""End to end on SQLite (issue #22, section 3): `mlops serve` + `mlops monitor` on the penguins
example; typed rows logged by column name, drift computed per column type from the log. Three
windows of 100 rows in turn: drift-free rows stay quiet; an island-share shift drifts on island
(category shares, chi-square); ``sex`` arriving empty drifts on sex (its missing rate). GET
/drift shows each column's test by type throughout."""

from __future__ import annotations

import time
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import palmerpenguins
import pandas as pd
import pytest
import requests

from mlops_pipeline.cli.main import main
from tests.support.servers import Stack, running_stack

pytestmark = pytest.mark.e2e

ROOT = Path(__file__).resolve().parents[2]
PENGUINS_CSV = Path(palmerpenguins.__file__).parent / "data" / "penguins.csv"
WINDOW = 100
ENV = {
    "MLOPS_MODEL_NAME": "penguins",
    "MLOPS_DRIFT_WINDOW": str(WINDOW),
    "MLOPS_DRIFT_INTERVAL_SECONDS": "0.5",
    "MLOPS_ACCESS_LOG": "false",
}
# The tests each column type may show: numbers by distribution and spread, strings by shares
# and unseen categories; any nullable column by its missing rate.
TESTS = {
    "double": {"ks", "scale", "missing"},
    "integer": {"ks", "scale", "missing"},
    "string": {"chi_square", "unseen", "missing"},
}


@pytest.fixture
def stack(tmp_path: Path) -> Iterator[Stack]:
    out = tmp_path / "artifacts"
    versions = ROOT / "examples" / "penguins" / "model_versions.toml"
    args = ["train", "--data", str(PENGUINS_CSV), "--target", "species"]
    assert main([*args, "--versions-file", str(versions), "--out", str(out)]) == 0
    with running_stack(out, tmp_path, ENV) as running:
        yield running


def rows_of(frame: pd.DataFrame) -> list[dict[str, Any]]:
    """By column name, null where missing (``year`` an integer, as the schema types it)."""
    records = frame.drop(columns="species").to_dict(orient="records")
    return [
        {k: None if v != v else (int(v) if k == "year" else v) for k, v in row.items()}
        for row in records
    ]


def window_after(http: requests.Session, stack: Stack, rows: list[dict[str, Any]]) -> Any:
    """Send ``rows`` in one batch, then the first /drift report computed after them."""
    answer = http.post(stack.url + "/predict", json={"instances": rows}, timeout=10)
    assert answer.status_code == 200, answer.text
    sent = time.time()
    deadline = time.monotonic() + 15
    while time.monotonic() < deadline:
        report = http.get(stack.url + "/drift", timeout=5).json()
        if report["computed_at"] > sent and report["window_size"] >= WINDOW:
            return report
        time.sleep(0.2)
    raise AssertionError(f"no drift report after the rows: {report}")


def assert_typed_columns(report: dict[str, Any]) -> None:
    columns = report["columns"]
    assert {name: column["type"] for name, column in columns.items()} == {
        "island": "string", "bill_length_mm": "double", "bill_depth_mm": "double",
        "flipper_length_mm": "double", "body_mass_g": "double", "sex": "string",
        "year": "integer",
    }  # fmt: skip
    for column in columns.values():
        shown = {test["test"] for test in column["tests"]}
        assert shown <= TESTS[column["type"]], column
        assert column["test"] in shown
    assert {t["test"] for t in columns["island"]["tests"]} == {"chi_square", "unseen"}
    assert {t["test"] for t in columns["sex"]["tests"]} == {"chi_square", "unseen", "missing"}
    assert {t["test"] for t in columns["year"]["tests"]} == {"ks", "scale"}  # never missing


def test_typed_drift_quiet_then_island_shift_then_sex_emptied(stack: Stack) -> None:
    frame = pd.read_csv(PENGUINS_CSV)
    with requests.Session() as http:
        # Drift-free: rows of the same population the model learnt (a fixed draw).
        quiet = window_after(http, stack, rows_of(frame.sample(WINDOW, random_state=3)))
        assert (quiet["status"], quiet["drift"]) == ("ok", False), quiet
        assert_typed_columns(quiet)
        assert not any(column["drift"] for column in quiet["columns"].values())

        # Island shift: Torgersen (~15% in training) is 70% of the window.
        torgersen = frame[frame.island == "Torgersen"].sample(70, replace=True, random_state=4)
        others = frame[frame.island != "Torgersen"].sample(30, random_state=4)
        shifted = window_after(http, stack, rows_of(pd.concat([torgersen, others])))
        assert shifted["status"] == "drift"
        island = shifted["columns"]["island"]
        assert (island["drift"], island["test"]) == (True, "chi_square"), island
        assert island["shares"]["Torgersen"] == pytest.approx(0.7)
        assert island["reference_shares"]["Torgersen"] < 0.2
        assert_typed_columns(shifted)

        # sex arrives empty in every row: its missing rate drifts.
        emptied = rows_of(frame.sample(WINDOW, random_state=5))
        empty = window_after(http, stack, [{**row, "sex": None} for row in emptied])
        assert empty["status"] == "drift"
        sex = empty["columns"]["sex"]
        assert (sex["drift"], sex["test"], sex["missing_share"]) == (True, "missing", 1.0), sex
        assert sex["reference_missing_share"] < 0.05
        assert not empty["columns"]["island"]["drift"]  # the island shift is out of the window
        assert_typed_columns(empty)
