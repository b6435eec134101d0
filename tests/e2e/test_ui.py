"""The Streamlit pages, run by streamlit.testing.v1.AppTest against a real API on a free port."""

from __future__ import annotations

import time
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any

import pandas as pd
import pytest
import requests
from streamlit.testing.v1 import AppTest

from mlops_pipeline.cli.launcher import prometheus_config
from mlops_pipeline.storage import open_storage
from mlops_pipeline.ui import retrain as rt
from mlops_pipeline.ui.batch import BatchError, parse_batch_csv
from mlops_pipeline.ui.charts import FEW_POINTS, line_spec, series_frame
from mlops_pipeline.ui.client import ApiClient, PrometheusClient, UiError
from mlops_pipeline.ui.rollout import build_plan, check_rows, labels_text, parse_steps, step_text
from tests.e2e.test_prometheus import DEPLOY, firing, start_prometheus, wait_for
from tests.support.helpers import ADMIN, ADMIN_TOKEN, FEEDBACK_TOKEN, SETOSA_ROW
from tests.support.servers import free_port, running_api, running_monitor, stop

PAGES = Path(__file__).resolve().parents[2] / "src" / "mlops_pipeline" / "ui" / "pages"
NAMES = ["sepal_length", "sepal_width", "petal_length", "petal_width"]

pytestmark = pytest.mark.e2e


@pytest.fixture(scope="module")
def api_url(artifacts_dir: Path, tmp_path_factory: pytest.TempPathFactory) -> Iterator[str]:
    folder = tmp_path_factory.mktemp("ui")
    with running_api(artifacts_dir, folder / "log.db", workers=1) as url:
        yield url


def _loader(monkeypatch: pytest.MonkeyPatch, url: str) -> Callable[[str], AppTest]:
    """Pages as `mlops up` runs them: both tokens in the UI's settings, the API at ``url``."""
    monkeypatch.setenv("MLOPS_API_URL", url)
    monkeypatch.setenv("MLOPS_ADMIN_TOKEN", ADMIN_TOKEN)
    monkeypatch.setenv("MLOPS_FEEDBACK_TOKEN", FEEDBACK_TOKEN)
    monkeypatch.setenv("MLOPS_PROMETHEUS_URL", f"http://127.0.0.1:{free_port()}")  # nobody there

    def load(name: str) -> AppTest:
        app = AppTest.from_file(str(PAGES / f"{name}.py"), default_timeout=20)
        app.run()
        assert not app.exception, app.exception
        return app

    return load


@pytest.fixture
def page(monkeypatch: pytest.MonkeyPatch, api_url: str) -> Callable[[str], AppTest]:
    """A page as `mlops up` runs it: both tokens in the UI's settings."""
    return _loader(monkeypatch, api_url)


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


# Retraining: a module API of their own, so that the runs they leave do not show on the pages the
# other tests read by position. Runs are put in its database directly where a monitor would.


@pytest.fixture(scope="module")
def retrain_api(
    artifacts_dir: Path, tmp_path_factory: pytest.TempPathFactory
) -> Iterator[tuple[str, str]]:
    """(the API's URL, its database URL); no monitor runs the queued runs here."""
    db = tmp_path_factory.mktemp("ui_retrain") / "log.db"
    with running_api(artifacts_dir, db, workers=1) as url:
        yield url, f"sqlite:///{db}"


@pytest.fixture
def retrain_page(
    monkeypatch: pytest.MonkeyPatch, retrain_api: tuple[str, str]
) -> Callable[[str], AppTest]:
    return _loader(monkeypatch, retrain_api[0])


COMPARISON = {
    "champion": {"accuracy": 0.9, "low": 0.8, "high": 0.95, "rows": 60},
    "candidate": {"accuracy": 0.95, "low": 0.861, "high": 0.983, "rows": 60},
    "difference": 0.05,
    "difference_low": -0.012,
    "difference_high": 0.112,
    "verdict": "not distinguishable",
}


def _runs(url: str) -> list[dict[str, Any]]:
    answer = requests.get(url + "/retrains?limit=50", headers=ADMIN, timeout=5)
    assert answer.status_code == 200, answer.text
    runs: list[dict[str, Any]] = answer.json()["retrains"]
    return runs


def _table(app: AppTest, column: str) -> pd.DataFrame:
    """The page's table with ``column``."""
    return next(frame.value for frame in app.dataframe if column in frame.value.columns)


def _open_run(db_url: str, trigger: str = "cli") -> int:
    """A run as `mlops retrain` records the one it does itself: running from the start."""
    storage = open_storage(db_url)
    try:
        return storage.retrains.open(trigger, "ops", None, False, None, time.time(), True).id
    finally:
        storage.close()


def _finish(db_url: str, run_id: int, status: str, message: str, **extra: Any) -> None:
    storage = open_storage(db_url)
    try:
        storage.retrains.finish(run_id, status, message, time.time(), **extra)
    finally:
        storage.close()


def _close_open_runs(db_url: str) -> None:
    """Fail what is queued or running: an open run refuses every later one (409)."""
    storage = open_storage(db_url)
    try:
        for run in storage.retrains.recent(50):
            if run.status in rt.OPEN:
                storage.retrains.finish(run.id, "failed", "closed by the test", time.time())
    finally:
        storage.close()


def test_retrain_form_queues_a_run_with_the_configured_token(
    retrain_page: Callable[[str], AppTest], retrain_api: tuple[str, str]
) -> None:
    url, db_url = retrain_api
    try:
        app = retrain_page("experiment")
        with pytest.raises(KeyError):
            app.text_input(key="retrain_token")  # the UI's settings hold the admin token
        assert app.number_input(key="retrain_since_days").value is None  # empty: every label
        app.text_input(key="retrain_version").input("r1")
        app.number_input(key="retrain_since_days").set_value(7.0)
        app.checkbox(key="retrain_rollout").check()
        app.button(key="queue_retrain").click().run()
        assert not app.exception, app.exception
        assert not app.error
        newest = _runs(url)[0]
        assert (newest["status"], newest["trigger"]) == ("queued", "api")
        assert newest["actor"].startswith("ui@")  # X-Actor: ui, from where it asked
        assert (newest["version"], newest["since_days"], newest["rollout"]) == ("r1", 7.0, True)
        notice = app.success[0].value
        assert f"Retraining run {newest['id']} is **queued**: r1" in notice
        assert "labels of the last 7 days; when registered, start a rollout" in notice
        runs = _table(app, "trigger")
        assert runs.iloc[0]["run"] == newest["id"]
        assert (runs.iloc[0]["status"], runs.iloc[0]["version"]) == ("queued", "r1")
        assert runs.iloc[0]["actor"] == newest["actor"]  # the configured token shows who asked
        assert runs.iloc[0]["finished"] == "-"
        app.button(key="refresh_retrains").click().run()  # an open run: the page offers a refresh
        assert not app.exception
        assert f"Run {newest['id']} is **queued**" in _shown(app)
        assert ADMIN_TOKEN not in _shown(app)
    finally:
        _close_open_runs(db_url)


def test_retrain_form_says_a_run_is_already_open(
    retrain_page: Callable[[str], AppTest], retrain_api: tuple[str, str]
) -> None:
    url, db_url = retrain_api
    running = _open_run(db_url)
    try:
        app = retrain_page("experiment")
        assert f"Run {running} is **running**" in _shown(app)
        app.button(key="queue_retrain").click().run()
        assert not app.exception, app.exception
        message = app.error[0].value
        assert message.startswith("A retraining run is already queued or running")
        assert "409 retrain_in_progress" in message
        assert not app.success
        assert [run["id"] for run in _runs(url) if run["status"] in rt.OPEN] == [running]
    finally:
        _close_open_runs(db_url)


def test_retrain_form_asks_for_the_admin_token_and_says_when_it_is_wrong(
    retrain_page: Callable[[str], AppTest],
    retrain_api: tuple[str, str],
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    url, db_url = retrain_api
    monkeypatch.delenv("MLOPS_ADMIN_TOKEN")  # as in compose: the UI holds the feedback token only
    before = len(_runs(url))
    try:
        app = retrain_page("experiment")
        app.button(key="queue_retrain").click().run()
        assert not app.exception, app.exception
        assert "Enter the admin token to queue a retraining run" in app.error[0].value

        app.text_input(key="retrain_token").input("wrong-token-0123456789")
        app.button(key="queue_retrain").click().run()
        assert app.error[0].value.startswith("The admin token is wrong or missing")
        assert "403 forbidden" in app.error[0].value
        assert len(_runs(url)) == before  # nothing queued

        app.text_input(key="retrain_token").input(ADMIN_TOKEN)
        app.text_input(key="retrain_version").input("not a name!")
        app.button(key="queue_retrain").click().run()
        assert "400 invalid_retrain" in app.error[0].value
        assert "version must be" in app.error[0].value

        app.text_input(key="retrain_version").input("")
        app.button(key="queue_retrain").click().run()
        assert not app.error
        assert "the next free name from every production label" in app.success[0].value
        assert "leave it at weight 0" in app.success[0].value
        assert len(_runs(url)) == before + 1
        assert "actor" not in _table(app, "trigger").columns  # without the token: not who asked
        assert ADMIN_TOKEN not in _shown(app)  # sent, never shown
    finally:
        _close_open_runs(db_url)


def test_retrain_runs_table_shows_the_newest_registered_comparison(
    retrain_page: Callable[[str], AppTest], retrain_api: tuple[str, str]
) -> None:
    _, db_url = retrain_api
    registered = _open_run(db_url)
    result = {"version": "v3", "champion": "v1", "comparison": COMPARISON, "rollout_id": 7}
    _finish(db_url, registered, "registered", "registered v3 (weight 0)", version="v3",
            result=result)  # fmt: skip
    refused = _open_run(db_url, trigger="drift-alert")
    too_few = "too few labels: 20 labelled routed predictions, needs at least 200"
    _finish(db_url, refused, "refused", too_few)

    app = retrain_page("experiment")
    runs = _table(app, "trigger")
    assert list(runs.columns) == [
        "run", "status", "trigger", "version", "requested", "finished", "message", "actor",
    ]  # fmt: skip
    assert list(runs["run"][:2]) == [refused, registered]  # newest first
    assert list(runs["status"][:2]) == ["refused", "registered"]
    assert list(runs["trigger"][:2]) == ["drift-alert", "cli"]
    assert list(runs["version"][:2]) == ["-", "v3"]
    assert runs.iloc[0]["message"] == too_few
    assert runs.iloc[0]["finished"] != "-"

    text = _shown(app)
    assert f"Newest registered candidate: **v3** (run {registered}," in text
    assert "against the champion **v1**; rollout 7 started." in text
    assert (
        "Accuracy difference (candidate minus champion): +5.0% (95% -1.2% to +11.2%):"
        " **not distinguishable**"
    ) in text
    comparison = _table(app, "holdout rows")
    assert list(comparison["model"]) == ["v1", "v3"]
    assert list(comparison["role"]) == ["champion", "candidate"]
    assert list(comparison["accuracy"]) == ["90.0%", "95.0%"]
    assert list(comparison["95% interval"]) == ["80.0% to 95.0%", "86.1% to 98.3%"]
    assert list(comparison["holdout rows"]) == [60, 60]


def test_retrain_section_warns_when_the_api_has_no_retraining(
    page: Callable[[str], AppTest], monkeypatch: pytest.MonkeyPatch
) -> None:
    def older_api(self: ApiClient, limit: int = 20) -> list[dict[str, Any]]:
        raise UiError("The API refused the request (404 not_found): Not Found", 404, "not_found")

    monkeypatch.setattr(ApiClient, "retrains", older_api)
    app = page("experiment")  # no exception: the fixture checks
    warning = next(w.value for w in app.warning if "retraining" in w.value)
    assert warning.startswith("This API offers no retraining (GET /retrains answered 404)")
    with pytest.raises(KeyError):
        app.button(key="queue_retrain")  # no form for an API that cannot queue
    assert "Rollout" in [header.value for header in app.subheader]  # the page goes on


def test_retrain_section_warns_when_the_api_went_down_meanwhile(
    page: Callable[[str], AppTest], monkeypatch: pytest.MonkeyPatch
) -> None:
    real = ApiClient.retrains
    nobody = ApiClient(f"http://127.0.0.1:{free_port()}")
    monkeypatch.setattr(ApiClient, "retrains", lambda self, limit=20: real(nobody, limit))
    app = page("experiment")
    warning = next(w.value for w in app.warning if "Retraining runs" in w.value)
    assert warning.startswith("Retraining runs cannot be shown: The API at")
    assert "unreachable" in warning


def test_retrain_client_methods_against_the_api(retrain_api: tuple[str, str]) -> None:
    url, db_url = retrain_api
    with pytest.raises(UiError, match="Enter the admin token to queue a retraining run"):
        ApiClient(url).queue_retrain({})
    with pytest.raises(UiError, match="400 invalid_retrain") as refused:
        ApiClient(url, admin_token=ADMIN_TOKEN).queue_retrain({"since_days": 0})
    assert (refused.value.status, refused.value.code) == (400, "invalid_retrain")
    try:
        queued = ApiClient(url).queue_retrain({"rollout": False}, token=ADMIN_TOKEN)
        assert queued["status"] == "queued"
        assert queued["actor"].startswith("ui@")
        with pytest.raises(UiError, match="409 retrain_in_progress") as busy:
            ApiClient(url, admin_token=ADMIN_TOKEN).queue_retrain({})
        assert busy.value.status == 409
        listed = ApiClient(url).retrains(1)
        assert [(run["id"], run["actor"]) for run in listed] == [(queued["id"], None)]
        assert ApiClient(url, admin_token=ADMIN_TOKEN).retrains(1)[0]["actor"] == queued["actor"]
    finally:
        _close_open_runs(db_url)


def test_retrain_request_from_the_form() -> None:
    assert rt.build_request("", None, False) == {"rollout": False}
    full = {"rollout": True, "version": "v9", "since_days": 2.5}
    assert rt.build_request(" v9 ", 2.5, True) == full


def test_retrain_refusals_and_warnings_in_words() -> None:
    busy = UiError("The API refused the request (409 retrain_in_progress): busy", 409, "x")
    assert rt.refusal_text(busy).startswith("A retraining run is already queued or running")
    assert rt.refusal_text(busy).endswith("(409 retrain_in_progress): busy")
    for status in (401, 403):
        wrong = UiError(f"The API refused the request ({status} x): no", status, "x")
        assert rt.refusal_text(wrong).startswith("The admin token is wrong or missing")
        assert f"({status} x): no" in rt.refusal_text(wrong)
    invalid = UiError("The API refused the request (400 invalid_retrain): bad", 400, "x")
    assert rt.refusal_text(invalid) == str(invalid)
    assert rt.refusal_text(UiError("Enter the admin token.")) == "Enter the admin token."
    missing = UiError("The API answered 404 without JSON.", 404)
    assert rt.unavailable_text(missing).startswith("This API offers no retraining (GET /retrains")
    down = UiError("The API at http://x is unreachable (ConnectionError).")
    assert rt.unavailable_text(down) == f"Retraining runs cannot be shown: {down}"


def test_retrain_rows_and_sentences() -> None:
    registered = {
        "id": 4, "status": "registered", "trigger": "api", "actor": None, "version": "v3",
        "rollout": False, "since_days": None, "requested_at": 100.0, "finished_at": 200.0,
        "message": "registered v3", "result": {"version": "v3", "champion": "v1",
        "comparison": COMPARISON, "rollout_id": None},
    }  # fmt: skip
    queued = {
        **registered, "id": 5, "status": "queued", "version": None, "since_days": 1.0,
        "rollout": True, "finished_at": None, "message": "", "result": None,
    }  # fmt: skip
    runs = [queued, registered]
    rows = rt.run_rows(runs)
    first = rows[0]
    assert [first[key] for key in ("run", "status", "version", "finished")] == [
        5,
        "queued",
        "-",
        "-",
    ]
    assert rows[1]["requested"] == rt.when(100.0)
    assert "actor" not in first
    assert rt.run_rows([{**registered, "actor": "alice"}])[0]["actor"] == "alice"
    assert rt.open_run(runs) is queued
    assert rt.open_run([registered]) is None
    assert rt.newest_registered(runs) is registered
    assert rt.newest_registered([queued, {**registered, "result": None}]) is None
    assert rt.queued_text(queued) == (
        "Retraining run 5 is **queued**: the next free name from labels of the last 1 day; when"
        " registered, start a rollout. The leading `mlops monitor` starts it within seconds; the"
        " table below shows how it ends."
    )
    assert rt.labels_scope(None) == "every production label"
    assert rt.labels_scope(0.5) == "labels of the last 0.5 days"
    assert "no rollout (it stays at weight 0)" in rt.registered_text(registered)
    assert rt.comparison_rows(registered["result"])[1] == {
        "model": "v3", "role": "candidate", "accuracy": "95.0%",
        "95% interval": "86.1% to 98.3%", "holdout rows": 60,
    }  # fmt: skip
    worse = {**COMPARISON, "difference": -0.2, "difference_low": -0.3, "difference_high": -0.1,
             "verdict": "worse"}  # fmt: skip
    assert rt.difference_text(worse) == (
        "Accuracy difference (candidate minus champion): -20.0% (95% -30.0% to -10.0%): **worse**"
    )


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


@pytest.mark.e2e
def test_the_ui_presents_its_prediction_key_where_the_api_requires_keys(
    artifacts_dir: Path, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    from mlops_pipeline.ui.common import api

    key = "ui-prediction-key-0123456789"
    env = {"MLOPS_PREDICT_TOKENS": f"streamlit:{key}"}
    with running_api(artifacts_dir, tmp_path / "log.db", workers=1, extra_env=env) as url:
        with pytest.raises(UiError, match="401 unauthorized") as refused:
            ApiClient(url).predict(SETOSA_ROW)
        assert refused.value.status == 401
        monkeypatch.setenv("MLOPS_API_URL", url)
        monkeypatch.setenv("MLOPS_UI_PREDICT_TOKEN", key)
        client = api()  # what the pages build from settings
        assert client.predict(SETOSA_ROW)["class_name"] == "setosa"
        assert len(client.predict_batch([SETOSA_ROW, SETOSA_ROW])["predictions"]) == 2
