"""The Streamlit pages, run by streamlit.testing.v1.AppTest against a real API on a free port."""

from __future__ import annotations

import time
from collections.abc import Iterator
from pathlib import Path

import pytest
import requests
from streamlit.testing.v1 import AppTest

from mlops_pipeline.cli.launcher import prometheus_config
from mlops_pipeline.ui.batch import BatchError, parse_batch_csv
from mlops_pipeline.ui.charts import FEW_POINTS, line_spec, series_frame
from mlops_pipeline.ui.client import ApiClient, PrometheusClient, UiError
from mlops_pipeline.ui.rollout import build_plan, check_rows, labels_text, parse_steps, step_text
from test_prometheus import DEPLOY, firing, start_prometheus, wait_for

from helpers import ADMIN, ADMIN_TOKEN, FEEDBACK_TOKEN, SETOSA_ROW
from servers import free_port, running_api, running_monitor, stop

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
    # No token field: the UI's settings hold the admin token.
    assert [field.label for field in app.text_input if field.label == "Admin token"] == []
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


def _shown(app: AppTest) -> str:
    """The text of the page's messages, markdown and captions."""
    elements = [*app.markdown, *app.caption, *app.info, *app.success, *app.warning, *app.error]
    return "\n".join(str(element.value) for element in elements)


def _no_rollout(api_url: str) -> None:
    """Abort whatever runs: a running rollout refuses manual weights (409) in other tests."""
    requests.post(api_url + "/rollouts/current/abort", headers=ADMIN, timeout=5)


def test_rollout_starts_from_the_form_with_a_typed_token(
    page, api_url: str, monkeypatch: pytest.MonkeyPatch
) -> None:  # type: ignore[no-untyped-def]
    monkeypatch.delenv("MLOPS_ADMIN_TOKEN")
    try:
        app = page("experiment")
        with pytest.raises(KeyError):
            app.button(key="abort_rollout")  # nothing runs: the start form instead
        assert app.text_input(key="rollout_steps").value == "0.05, 0.25, 0.5, 1.0"
        app.selectbox(key="rollout_candidate").select("v2")
        app.selectbox(key="rollout_baseline").select("v1")
        app.number_input(key="rollout_min_labels").set_value(50)
        app.button(key="start_rollout").click().run()
        assert not app.exception
        assert "Enter the admin token to start a rollout" in app.error[0].value
        assert requests.get(api_url + "/rollouts/current", timeout=5).status_code == 404

        app.text_input(key="rollout_start_token").input("wrong-token-0123456789")
        app.button(key="start_rollout").click().run()
        assert "403 forbidden" in app.error[0].value

        app.text_input(key="rollout_steps").input("0.1, 0.5")  # does not end at 1.0
        app.text_input(key="rollout_start_token").input(ADMIN_TOKEN)
        app.button(key="start_rollout").click().run()
        assert "400 invalid_rollout" in app.error[0].value
        assert "steps must be" in app.error[0].value

        app.text_input(key="rollout_steps").input("0.1, 0.5, 1.0")
        app.button(key="start_rollout").click().run()
        assert not app.exception
        assert not app.error
        assert any("started: v2" in success.value for success in app.success)
        text = _shown(app)
        assert "state **running**" in text
        assert "**v2** (candidate) against **v1** (baseline)" in text
        assert "Weights now: **v2 10%, v1 90%**" in text
        assert "candidate share 10%" in text
        assert "not counted yet (50 needed)" in text  # no monitor has decided here
        assert ADMIN_TOKEN not in text  # sent, never shown
        trail = app.dataframe[-1].value
        assert list(trail["event"]) == ["started"]
        assert list(trail["state"]) == ["running"]

        current = requests.get(api_url + "/rollouts/current", timeout=5).json()
        assert (current["candidate"], current["baseline"]) == ("v2", "v1")
        assert current["plan"]["steps"] == [0.1, 0.5, 1.0]
        assert current["plan"]["min_labels_per_step"] == 50
        assert current["weights"] == {"v2": 0.1, "v1": 0.9}

        again = requests.post(
            api_url + "/rollouts", json={"candidate": "v2", "baseline": "v1"}, headers=ADMIN,
            timeout=5,
        )  # fmt: skip
        assert again.status_code == 409
    finally:
        _no_rollout(api_url)


def test_rollout_abort_with_the_configured_token(page, api_url: str) -> None:  # type: ignore[no-untyped-def]
    plan = {"candidate": "v2", "baseline": "v1", "steps": [0.25, 1.0]}
    started = requests.post(api_url + "/rollouts", json=plan, headers=ADMIN, timeout=5)
    assert started.status_code == 201, started.text
    try:
        app = page("experiment")
        text = _shown(app)
        assert "state **running**" in text
        assert "Weights now: **v2 25%, v1 75%**" in text
        assert "No decision yet" in text  # no monitor runs here
        with pytest.raises(KeyError):
            app.text_input(key="rollout_abort_token")  # the UI's settings hold the admin token
        app.button(key="abort_rollout").click().run()
        assert not app.exception
        assert not app.error
        assert "is aborted" in app.success[0].value
        text = _shown(app)
        assert "ended **aborted**" in text
        assert "state **running**" not in text
        assert requests.get(api_url + "/rollouts/current", timeout=5).status_code == 404
        weights = requests.get(api_url + "/config", timeout=5).json()["weights"]
        assert weights == {"v1": 0.5, "v2": 0.5}  # restored
        newest = requests.get(api_url + "/rollouts?limit=1", timeout=5).json()["rollouts"][0]
        assert newest["state"] == "aborted"
    finally:
        _no_rollout(api_url)


def test_a_rollout_that_ended_meanwhile_is_shown_ended(page, api_url: str) -> None:  # type: ignore[no-untyped-def]
    plan = {"candidate": "v2", "baseline": "v1"}
    requests.post(api_url + "/rollouts", json=plan, headers=ADMIN, timeout=5).raise_for_status()
    try:
        app = page("experiment")
        _no_rollout(api_url)  # someone else aborted it meanwhile
        app.button(key="abort_rollout").click().run()  # the page reads the state afresh
        assert not app.exception
        assert "ended **aborted**" in _shown(app)
        app.button(key="start_rollout")  # the start form again
    finally:
        _no_rollout(api_url)


def test_rollout_client_methods_against_the_api(api_url: str) -> None:
    client = ApiClient(api_url, admin_token=ADMIN_TOKEN)
    assert client.current_rollout() is None  # 404 no_rollout is "none runs", not an error
    with pytest.raises(UiError, match="Enter the admin token to abort the rollout"):
        ApiClient(api_url).abort_rollout()
    with pytest.raises(UiError, match="404 no_rollout") as refused:
        client.abort_rollout()
    assert (refused.value.status, refused.value.code) == (404, "no_rollout")
    try:
        started = client.start_rollout({"candidate": "v2", "baseline": "v1", "policy": "thompson"})
        assert started["state"] == "running"
        assert started["step_share"] is None
        current = client.current_rollout()
        assert current is not None
        assert current["id"] == started["id"]
        with pytest.raises(UiError, match="409 rollout_in_progress"):
            client.start_rollout({"candidate": "v2", "baseline": "v1"})
        aborted = client.abort_rollout()
        assert aborted["state"] == "aborted"
        assert client.rollouts(1)[0]["id"] == started["id"]
        assert client.current_rollout() is None
    finally:
        _no_rollout(api_url)


def test_rollout_evidence_from_the_monitor_is_shown(
    artifacts_dir: Path, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """With `mlops monitor` deciding: the guardrail checks, the decision and its reason."""
    db = tmp_path / "log.db"
    env = {"MLOPS_ROLLOUT_INTERVAL_SECONDS": "0.5", "MLOPS_WEIGHTS_SYNC_SECONDS": "0.2"}
    with (
        running_api(artifacts_dir, db, workers=1, extra_env=env) as url,
        running_monitor(artifacts_dir, db, extra_env=env),
    ):
        plan = {"candidate": "v2", "baseline": "v1", "min_labels_per_step": 500}
        requests.post(url + "/rollouts", json=plan, headers=ADMIN, timeout=5).raise_for_status()
        for _ in range(5):
            requests.post(url + "/predict", json={"features": SETOSA_ROW}, timeout=5)
        deadline = time.monotonic() + 20
        while requests.get(url + "/rollouts/current", timeout=5).json()["evidence"] is None:
            assert time.monotonic() < deadline, "the monitor decided nothing within 20 s"
            time.sleep(0.2)
        monkeypatch.setenv("MLOPS_API_URL", url)
        monkeypatch.setenv("MLOPS_ADMIN_TOKEN", ADMIN_TOKEN)
        monkeypatch.setenv("MLOPS_PROMETHEUS_URL", f"http://127.0.0.1:{free_port()}")
        app = AppTest.from_file(str(PAGES / "experiment.py"), default_timeout=20).run()
        assert not app.exception, app.exception
        text = _shown(app)
        assert "Decision: **hold**" in text  # 500 labels are far off
        assert "of 500 needed" in text
        checks = app.dataframe[1].value  # after the experiment's table
        assert {"error_rate", "p99_ms", "labels"} <= set(checks.index)
        assert list(checks.columns[:3]) == ["value", "limit", "ok"]
        assert not checks.loc["labels", "ok"]


def test_rollout_plan_from_the_form() -> None:
    plan = build_plan("v2", "v1", " 0.05, 0.25,0.5 , 1.0 ", 200, 0.01, 50.0, 0.02, "steps")
    assert plan == {
        "candidate": "v2",
        "baseline": "v1",
        "steps": [0.05, 0.25, 0.5, 1.0],
        "min_labels_per_step": 200,
        "guardrails": {"max_error_rate": 0.01, "max_p99_ms": 50.0, "max_accuracy_drop": 0.02},
        "policy": "steps",
    }
    with pytest.raises(UiError, match="comma-separated shares"):
        parse_steps("0.1, half, 1")
    with pytest.raises(UiError, match="Enter the steps"):
        parse_steps(" , ")


def test_rollout_evidence_rows_and_sentences() -> None:
    evidence = {
        "action": "hold",
        "reason": "waiting for labels",
        "checks": [
            {"name": "error_rate", "ok": True, "value": 0.0, "limit": 0.01, "detail": "0 of 40"},
            {"name": "p99_ms", "ok": False, "value": 80.0, "limit": 50.0, "detail": "slow"},
            {"name": "labels", "ok": False, "value": 12, "limit": 200, "detail": "12 of 200"},
        ],
        "step_labels": 12,
    }
    rows = check_rows(evidence)
    assert [(r["check"], r["value"], r["limit"], r["ok"]) for r in rows] == [
        ("error_rate", 0.0, 0.01, True),
        ("p99_ms", 80.0, 50.0, False),
        ("labels", 12, 200, False),
    ]
    assert check_rows(None) == []
    rollout = {
        "step": 1,
        "step_share": 0.25,
        "policy": "steps",
        "plan": {"steps": [0.05, 0.25, 0.5, 1.0], "min_labels_per_step": 200},
        "evidence": evidence,
    }
    assert labels_text(rollout) == ("Labels in this step: 12 of 200 needed.", 0.06)
    assert step_text(rollout) == "step 2 of 4 (index 1), candidate share 25%"
    bandit = {**rollout, "policy": "thompson", "step_share": None, "evidence": None}
    assert step_text(bandit) == "Thompson sampling, 1 weight update so far"
    assert labels_text(bandit)[1] is None


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


def test_monitoring_lists_the_alerts_a_real_prometheus_fires(
    page, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:  # type: ignore[no-untyped-def]
    """Prometheus scrapes an address where nothing listens: APIDown fires (rules `for: 0s`)."""
    nobody = f"127.0.0.1:{free_port()}"
    config = prometheus_config(
        DEPLOY,
        tmp_path / "prometheus",
        nobody,
        scrape_interval="1s",
        alert_for="0s",
        monitor_target=nobody,
    )
    process, url = start_prometheus(config, tmp_path / "prometheus" / "data")
    try:
        wait_for(lambda: "APIDown" in firing(url), 30, "APIDown to fire")
        alerts = PrometheusClient(url).alerts()
        assert any(alert["labels"]["alertname"] == "APIDown" for alert in alerts)
        monkeypatch.setenv("MLOPS_PROMETHEUS_URL", url)
        app = page("monitoring")
    finally:
        stop(process)
    assert not any("No alert is firing" in success.value for success in app.success)
    table = app.dataframe[0].value
    assert list(table.columns) == ["alert", "severity", "state", "since", "summary"]
    down = table[table["alert"] == "APIDown"].iloc[0]
    assert (down["severity"], down["state"]) == ("critical", "firing")
    assert down["since"].endswith(" UTC")
    assert down["summary"] == "The prediction API is not being scraped"
    assert table.iloc[0]["alert"] == "APIDown"  # the only firing critical alert comes first


def test_monitoring_alerts_fall_back_when_prometheus_is_down(page) -> None:  # type: ignore[no-untyped-def]
    app = page("monitoring")  # the fixture points the UI at a free port: nobody there
    assert app.subheader[0].value == "Alerts"
    assert not app.success
    message = next(w.value for w in app.warning if "alerts cannot be shown" in w.value)
    assert "Prometheus at" in message
    assert "unreachable" in message
    with pytest.raises(UiError, match="unreachable"):
        PrometheusClient(f"http://127.0.0.1:{free_port()}").alerts()


def test_monitoring_says_when_no_alert_is_firing(page, monkeypatch: pytest.MonkeyPatch) -> None:  # type: ignore[no-untyped-def]
    monkeypatch.setattr(PrometheusClient, "alerts", lambda self: [])
    app = page("monitoring")
    assert app.success[0].value == "No alert is firing."


def test_monitoring_sorts_alerts_firing_first_then_by_severity(
    page, monkeypatch: pytest.MonkeyPatch
) -> None:  # type: ignore[no-untyped-def]
    def alert(name: str, severity: str, state: str) -> dict[str, object]:
        return {
            "labels": {"alertname": name, "severity": severity},
            "annotations": {"summary": f"{name} summary", "description": "..."},
            "state": state,
            "activeAt": "2024-05-01T12:30:45.123456789Z",
        }

    alerts = [
        alert("PendingCritical", "critical", "pending"),
        alert("FiringWarning", "warning", "firing"),
        alert("FiringCritical", "critical", "firing"),
        alert("PendingWarning", "warning", "pending"),
    ]
    monkeypatch.setattr(PrometheusClient, "alerts", lambda self: alerts)
    app = page("monitoring")
    table = app.dataframe[0].value
    assert list(table["alert"]) == [
        "FiringCritical", "FiringWarning", "PendingCritical", "PendingWarning",
    ]  # fmt: skip
    assert list(table["severity"]) == ["critical", "warning", "critical", "warning"]
    assert set(table["since"]) == {"2024-05-01 12:30:45 UTC"}
    assert table.iloc[0]["summary"] == "FiringCritical summary"
