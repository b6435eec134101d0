"""The Streamlit UI in a real browser (Playwright driving Debian's Chromium) against a live API,
monitor, Prometheus and UI: what a person sees and does on every page."""

from __future__ import annotations

import time
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
import requests

from browser import UI_TOKENS, Stack, chromium, running_stack, settle, unavailable_reason
from helpers import ADMIN, SETOSA_ROW

pytestmark = pytest.mark.e2e
TIMEOUT = 30_000  # ms


@pytest.fixture(scope="module")
def stack(artifacts_dir: Path, tmp_path_factory: pytest.TempPathFactory) -> Iterator[Stack]:
    reason = unavailable_reason()
    if reason is not None:
        pytest.skip(reason)
    with running_stack(artifacts_dir, tmp_path_factory.mktemp("browser"), UI_TOKENS) as running:
        yield running


@pytest.fixture(scope="module")
def browser(stack: Stack) -> Iterator[Any]:
    with chromium() as running:
        yield running


@pytest.fixture
def page(browser: Any) -> Iterator[Any]:
    context = browser.new_context(accept_downloads=True, viewport={"width": 1280, "height": 900})
    opened = context.new_page()
    opened.set_default_timeout(TIMEOUT)
    yield opened
    context.close()


def open_page(page: Any, stack: Stack, path: str = "") -> None:
    page.goto(f"{stack.ui}/{path}")
    settle(page)


def test_predict_shows_the_class_and_the_version(page: Any, stack: Stack) -> None:
    open_page(page, stack)
    for label, value in zip(
        ["sepal length", "sepal width", "petal length", "petal width"], SETOSA_ROW, strict=True
    ):
        field = page.get_by_role("spinbutton", name=label, exact=True)
        field.fill(str(value))
        field.press("Tab")
    page.get_by_role("button", name="Predict", exact=True).click()
    result = page.get_by_text("from model")
    result.wait_for()
    text = result.inner_text()
    assert "setosa" in text
    assert any(f"model {version}" in text for version in ("v1", "v2"))


def test_batch_uploads_a_csv_shows_the_table_and_downloads(
    page: Any, stack: Stack, tmp_path: Path
) -> None:
    csv = tmp_path / "flowers.csv"
    csv.write_text(
        "id,sepal_length,sepal_width,petal_length,petal_width\n"
        "a,5.1,3.5,1.4,0.2\nb,6.7,3.0,5.2,2.3\nc,5.9,3.0,4.2,1.5\n"
    )
    open_page(page, stack, "batch")
    page.locator('input[type="file"]').set_input_files(str(csv))
    page.get_by_role("button", name="Predict batch").click()
    page.get_by_text("3 rows predicted by").wait_for()
    page.locator('[data-testid="stDataFrame"]').wait_for()
    with page.expect_download() as download:
        page.get_by_role("button", name="Download results (CSV)").click()
    lines = Path(download.value.path()).read_text().splitlines()
    assert lines[0].startswith("id,sepal_length,sepal_width,petal_length,petal_width,prediction")
    assert [line.split(",")[5] for line in lines[1:]] == ["setosa", "virginica", "versicolor"]


def test_experiment_feedback_weights_and_verdict(page: Any, stack: Stack) -> None:
    answer = requests.post(stack.api + "/predict", json={"features": SETOSA_ROW}, timeout=5)
    request_id = answer.json()["request_id"]
    open_page(page, stack, "experiment")
    page.get_by_text("continue").first.wait_for()  # the verdict, with its reason
    page.get_by_role("textbox", name="Request id").fill(request_id)
    page.get_by_role("button", name="Send label").click()
    page.get_by_text(f"was correct for {request_id}").wait_for()

    for version, weight in (("v1", "0.3"), ("v2", "0.7")):
        field = page.get_by_role("spinbutton", name=version, exact=True)
        field.fill(weight)
        field.press("Tab")
    page.get_by_role("button", name="Change weights").click()
    page.get_by_text("Weights now").wait_for()
    assert requests.get(stack.api + "/config", timeout=5).json()["weights"] == {
        "v1": 0.3,
        "v2": 0.7,
    }
    assert UI_TOKENS["MLOPS_ADMIN_TOKEN"] not in page.content()
    requests.put(
        stack.api + "/config/weights", json={"v1": 0.5, "v2": 0.5}, headers=ADMIN, timeout=5
    )


def test_monitoring_draws_charts_from_live_prometheus(page: Any, stack: Stack) -> None:
    with requests.Session() as http:
        for _ in range(40):
            http.post(stack.api + "/predict", json={"features": SETOSA_ROW}, timeout=5)
    deadline = time.monotonic() + 30
    while True:  # a rate needs two scrapes of the traffic
        query = {"query": 'sum(rate(mlops_requests_total{endpoint="/predict"}[1m])) > 0'}
        body = requests.get(stack.prometheus + "/api/v1/query", params=query, timeout=5).json()
        if body["data"]["result"]:
            break
        assert time.monotonic() < deadline, "Prometheus never saw the traffic"
        time.sleep(0.5)
    open_page(page, stack, "monitoring")
    page.get_by_text("Request rate (req/s)").wait_for()
    page.locator('[data-testid="stVegaLiteChart"]').first.wait_for()
    assert page.locator('[data-testid="stVegaLiteChart"]').count() >= 1
    assert page.get_by_text("unreachable").count() == 0
    page.get_by_text("Drift by feature").wait_for()
