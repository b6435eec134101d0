"""The Streamlit pages, run by streamlit.testing.v1.AppTest against a real API on a free port."""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path

import pytest
import requests
from streamlit.testing.v1 import AppTest

from mlops_pipeline.ui.batch import BatchError, parse_batch_csv
from mlops_pipeline.ui.charts import FEW_POINTS, line_spec, series_frame

from helpers import ADMIN, ADMIN_TOKEN, FEEDBACK_TOKEN, SETOSA_ROW
from servers import free_port, running_api

PAGES = Path(__file__).resolve().parents[1] / "src" / "mlops_pipeline" / "ui" / "pages"
NAMES = ["sepal_length", "sepal_width", "petal_length", "petal_width"]

pytestmark = pytest.mark.e2e


@pytest.fixture(scope="module")
def api_url(artifacts_dir: Path, tmp_path_factory: pytest.TempPathFactory) -> Iterator[str]:
    folder = tmp_path_factory.mktemp("ui")
    with running_api(artifacts_dir, folder / "log.db", workers=1) as url:
        yield url


@pytest.fixture
def page(monkeypatch: pytest.MonkeyPatch, api_url: str):  # type: ignore[no-untyped-def]
    """A page as `mlops up` runs it: both tokens in the UI's settings."""
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


def test_predict_happy_path_and_history(page) -> None:  # type: ignore[no-untyped-def]
    app = page("predict")
    assert app.number_input(key="feature_sepal_length").value == pytest.approx(5.8, abs=0.1)
    for name, value in zip(NAMES, SETOSA_ROW, strict=True):
        app.number_input(key=f"feature_{name}").set_value(value)
    app.text_input[0].input("alice")
    app.button[0].click().run()
    assert not app.exception
    assert "**setosa** from model **v1**" in app.success[0].value  # alice is sticky on v1
    history = app.dataframe[0].value
    assert list(history["class"]) == ["setosa"]
    assert list(history["user"]) == ["alice"]


def test_predict_page_reports_an_unreachable_api(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("MLOPS_API_URL", f"http://127.0.0.1:{free_port()}")
    app = AppTest.from_file(str(PAGES / "predict.py"), default_timeout=20).run()
    assert not app.exception
    assert "unreachable" in app.error[0].value


def test_batch_predicts_pasted_csv(page) -> None:  # type: ignore[no-untyped-def]
    app = page("batch")
    csv = "id," + ",".join(NAMES) + "\n1,5.1,3.5,1.4,0.2\n2,6.7,3.0,5.2,2.3\n"
    app.text_area(key="pasted_csv").input(csv).run()
    app.button[0].click().run()
    assert not app.exception
    result = app.dataframe[0].value
    assert list(result["prediction"]) == ["setosa", "virginica"]
    assert list(result["id"]) == [1, 2]


def test_batch_explains_an_invalid_csv(page) -> None:  # type: ignore[no-untyped-def]
    app = page("batch")
    app.text_area(key="pasted_csv").input("width,height\n1,2\n").run()
    app.button[0].click().run()
    assert not app.exception
    assert (
        "Missing columns: sepal_length, sepal_width, petal_length, petal_width"
        in app.error[0].value
    )


@pytest.mark.parametrize(
    ("text", "message"),
    [
        ("", "not a readable CSV"),
        (",".join(NAMES) + "\n", "no rows"),
        (",".join(NAMES) + "\n1,2,x,4\n", "Row 1, column petal_length: 'x' is not a number"),
    ],
)
def test_batch_csv_validation(text: str, message: str) -> None:
    with pytest.raises(BatchError, match=message):
        parse_batch_csv(text, NAMES)


def test_experiment_feedback_form(page, api_url: str) -> None:  # type: ignore[no-untyped-def]
    answer = requests.post(api_url + "/predict", json={"features": SETOSA_ROW}, timeout=5).json()
    app = page("experiment")
    assert "continue" in app.info[0].value
    app.text_input[0].input(answer["request_id"])
    app.selectbox[0].select("setosa")
    app.button[0].click().run()
    assert not app.exception
    assert f"was correct for {answer['request_id']}" in app.success[0].value
    labelled = requests.get(api_url + "/experiment", timeout=5).json()["versions"]
    assert sum(v["labelled"] for v in labelled.values()) >= 1


def test_weights_change_with_the_configured_token(page, api_url: str) -> None:  # type: ignore[no-untyped-def]
    app = page("experiment")
    assert len(app.text_input) == 1  # no token field: the UI's settings hold the admin token
    app.number_input(key="w_v1").set_value(0.3)
    app.number_input(key="w_v2").set_value(0.7)
    app.button[1].click().run()
    assert "Weights now" in app.success[0].value
    assert requests.get(api_url + "/config", timeout=5).json()["weights"] == {"v1": 0.3, "v2": 0.7}
    requests.put(api_url + "/config/weights", json={"v1": 0.5, "v2": 0.5}, headers=ADMIN, timeout=5)


def test_without_an_admin_token_the_weight_form_asks_for_one(
    page, api_url: str, monkeypatch: pytest.MonkeyPatch
) -> None:  # type: ignore[no-untyped-def]
    monkeypatch.delenv("MLOPS_ADMIN_TOKEN")  # as in compose: the UI holds the feedback token only
    app = page("experiment")
    app.number_input(key="w_v1").set_value(0.3)
    app.number_input(key="w_v2").set_value(0.7)
    app.button[1].click().run()
    assert "Enter the admin token" in app.error[0].value

    app.text_input[1].input("wrong-token-0123456789")
    app.button[1].click().run()
    assert "403 forbidden" in app.error[0].value
    assert requests.get(api_url + "/config", timeout=5).json()["weights"] == {"v1": 0.5, "v2": 0.5}

    app.text_input[1].input(ADMIN_TOKEN)
    app.button[1].click().run()
    assert "Weights now" in app.success[0].value
    assert ADMIN_TOKEN not in str(app.main)  # sent, never shown
    requests.put(api_url + "/config/weights", json={"v1": 0.5, "v2": 0.5}, headers=ADMIN, timeout=5)


def test_feedback_form_is_off_without_tokens(page, monkeypatch: pytest.MonkeyPatch) -> None:  # type: ignore[no-untyped-def]
    monkeypatch.delenv("MLOPS_ADMIN_TOKEN")
    monkeypatch.delenv("MLOPS_FEEDBACK_TOKEN")
    app = page("experiment")
    assert any("Labels are disabled" in info.value for info in app.info)


def test_monitoring_falls_back_when_prometheus_is_down(page) -> None:  # type: ignore[no-untyped-def]
    app = page("monitoring")
    assert "Prometheus at" in app.warning[0].value
    assert "unreachable" in app.warning[0].value
    assert any("status **" in markdown.value for markdown in app.markdown)


def test_prometheus_series_become_a_long_frame_without_nan() -> None:
    series = [
        {"metric": {"model_version": "v1"}, "values": [[100, "0.5"], [115, "NaN"], [130, "0.7"]]},
        {"metric": {"model_version": "v2"}, "values": [[100, "0.6"]]},
    ]
    frame = series_frame(series)
    assert list(frame["series"]) == ["v1", "v1", "v2"]
    assert list(frame["value"]) == [0.5, 0.7, 0.6]
    assert str(frame["time"].iloc[1]) == "1970-01-01 00:02:10"
    spec = line_spec(frame)
    assert spec["mark"]["point"] is True  # two points or one: a line alone would draw nothing
    assert spec["encoding"]["color"]["field"] == "series"


def test_a_long_single_series_is_a_plain_line() -> None:
    values = [[100 + 15 * i, str(i)] for i in range(FEW_POINTS)]
    frame = series_frame([{"metric": {}, "values": values}])
    assert set(frame["series"]) == {"value"}
    spec = line_spec(frame)
    assert spec["mark"]["point"] is False
    assert "color" not in spec["encoding"]  # no legend for one series
    assert series_frame([]).empty
