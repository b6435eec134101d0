"""The Streamlit pages on a typed model (issue #22 §6), run by AppTest against `mlops serve` on the
penguins example: the Predict form generated from the served schema, a CSV batch whose refused
rows are listed while the others are answered, and drift per column with category shares."""

from __future__ import annotations

from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any

import palmerpenguins
import pytest
import requests
from streamlit.testing.v1 import AppTest

from mlops_pipeline.cli.main import main
from tests.support.helpers import ADMIN, ADMIN_TOKEN, FEEDBACK_TOKEN
from tests.support.servers import free_port, running_api

pytestmark = pytest.mark.e2e

ROOT = Path(__file__).resolve().parents[2]
PAGES = ROOT / "src" / "mlops_pipeline" / "ui" / "pages"
PENGUINS_CSV = Path(palmerpenguins.__file__).parent / "data" / "penguins.csv"
CLASSES = ["Adelie", "Chinstrap", "Gentoo"]
HEADER = "id,island,bill_length_mm,bill_depth_mm,flipper_length_mm,body_mass_g,sex,year\n"


def train_penguins(folder: Path) -> Path:
    """The example's two versions, trained by the CLI."""
    out = folder / "artifacts"
    versions = ROOT / "examples" / "penguins" / "model_versions.toml"
    args = ["train", "--data", str(PENGUINS_CSV), "--target", "species", "--out", str(out)]
    assert main([*args, "--versions-file", str(versions)]) == 0
    return out


@pytest.fixture(scope="module")
def api_url(tmp_path_factory: pytest.TempPathFactory) -> Iterator[str]:
    folder = tmp_path_factory.mktemp("ui-typed")
    env = {"MLOPS_MODEL_NAME": "penguins", "MLOPS_DRIFT_WINDOW_SIZE": "60"}
    with running_api(
        train_penguins(folder), folder / "log.db", workers=1, extra_env=env,
        log_path=folder / "api.log",
    ) as url:  # fmt: skip
        yield url


@pytest.fixture
def page(monkeypatch: pytest.MonkeyPatch, api_url: str) -> Callable[[str], AppTest]:
    monkeypatch.setenv("MLOPS_API_URL", api_url)
    monkeypatch.setenv("MLOPS_ADMIN_TOKEN", ADMIN_TOKEN)
    monkeypatch.setenv("MLOPS_FEEDBACK_TOKEN", FEEDBACK_TOKEN)
    monkeypatch.setenv("MLOPS_PROMETHEUS_URL", f"http://127.0.0.1:{free_port()}")  # nobody there

    def load(name: str) -> AppTest:
        app = AppTest.from_file(str(PAGES / f"{name}.py"), default_timeout=20)
        app.run()
        assert not app.exception, app.exception
        return app

    return load


def newest_logged(api_url: str) -> dict[str, Any]:
    body = requests.get(api_url + "/predictions?limit=1", headers=ADMIN, timeout=5).json()
    row: dict[str, Any] = body["predictions"][0]
    return row


def test_the_predict_form_follows_the_schema(page: Callable[[str], AppTest], api_url: str) -> None:
    app = page("predict")
    island = app.selectbox(key="feature_island")
    assert island.options == ["Biscoe", "Dream", "Torgersen"]  # required: no missing choice
    sex = app.selectbox(key="feature_sex")
    assert sex.options == ["female", "male", "(missing)"]
    assert sex.value == "(missing)"  # a nullable column starts out missing
    year = app.number_input(key="feature_year")
    assert year.value == 2008  # an integer input: the training mean rounded, step 1
    assert isinstance(year.value, int)
    assert app.number_input(key="feature_bill_length_mm").value == pytest.approx(44.1)
    with pytest.raises(KeyError):
        app.checkbox(key="missing_year")  # required
    island.select("Dream")
    app.checkbox(key="missing_bill_depth_mm").check()
    app.number_input(key="feature_flipper_length_mm").set_value(195.0)
    app.button[0].click().run()
    assert not app.exception
    assert not app.error
    answer = app.success[0].value
    assert answer.split("**")[1] in CLASSES
    logged = newest_logged(api_url)["features"]
    assert logged["island"] == "Dream"
    assert logged["sex"] is None
    assert logged["bill_depth_mm"] is None
    assert logged["flipper_length_mm"] == 195.0
    assert logged["year"] == 2008
    history = app.dataframe[0].value
    assert list(history["island"]) == ["Dream"]


def test_a_refused_row_is_listed_and_the_others_are_answered(
    page: Callable[[str], AppTest],
) -> None:
    long_sex = "x" * 300  # the UI cannot tell: the API refuses it (400 naming row and column)
    csv = HEADER + (
        "a,Torgersen,39.1,18.7,181,3750,,2007\n"
        "b,Biscoe,50,15,220,5500,male,2008\n"
        f"c,Dream,46,17,195,3900,{long_sex},2008\n"
        "d,,40,18,190,3800,female,2009\n"  # empty required island: refused before sending
        "e,Atlantis,46,17,195,3900,NA,2008\n"  # unseen island: answered
    )
    app = page("batch")
    app.text_area(key="pasted_csv").input(csv).run()
    app.button[0].click().run()
    assert not app.exception
    assert "2 of 5 rows were refused" in app.error[0].value
    refused = app.dataframe[0].value  # the refused rows, above the results
    assert list(refused["row"]) == [3, 4]
    assert "column 'sex'" in refused["error"].iloc[0]
    assert refused["error"].iloc[1] == "column 'island': empty in a required column"
    assert app.success[0].value.startswith("3 rows predicted by ")
    result = app.dataframe[-1].value
    assert list(result["id"]) == ["a", "b", "c", "d", "e"]
    answered = result[result["error"] == ""]
    assert list(answered["id"]) == ["a", "b", "e"]
    assert list(answered["prediction"][:2]) == ["Adelie", "Gentoo"]
    assert set(answered["prediction"]) <= set(CLASSES)


def test_monitoring_shows_category_shares_and_missing_rates(
    page: Callable[[str], AppTest], api_url: str
) -> None:
    row: dict[str, Any] = {
        "island": "Biscoe", "bill_length_mm": 46.0, "bill_depth_mm": None,
        "flipper_length_mm": 215.0, "body_mass_g": 5000.0, "sex": "male", "year": 2008,
    }  # fmt: skip
    rows = [{**row, "island": "Dream" if i % 2 else "Atlantis"} for i in range(60)]
    answer = requests.post(api_url + "/predict", json={"instances": rows}, timeout=10)
    assert answer.status_code == 200, answer.text
    app = page("monitoring")
    table = app.dataframe[-1].value  # drift by column
    assert list(table["column"][:2]) == ["island", "bill_length_mm"]
    island = table[table["column"] == "island"].iloc[0]
    assert (island["type"], bool(island["drift"])) == ("string", True)
    depth = table[table["column"] == "bill_depth_mm"].iloc[0]
    assert depth["missing"] > 0.9  # a column arriving empty (the window holds a few earlier rows)
    subheaders = [s.value for s in app.subheader]
    assert "Missing values: training against the window" in subheaders
    assert "Category shares: training against the window" in subheaders
    captions = [c.value for c in app.caption]
    assert any(c.startswith("island: ") and c.endswith("drift yes") for c in captions)
    assert any(c.startswith("sex: ") for c in captions)
    charts = [e for e in app.main if getattr(e, "type", "") == "vega_lite_chart"]
    assert len(charts) == 3  # missing rates, island, sex
