"""The Streamlit UI in a real browser (Playwright driving Debian's Chromium) against a live API,
monitor, Prometheus and UI: what a person sees and does on every page."""

from __future__ import annotations

import time
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
import requests

from tests.support.browser import (
    UI_TOKENS,
    Stack,
    chromium,
    open_page,
    running_stack,
    unavailable_reason,
)
from tests.support.helpers import ADMIN, SETOSA_ROW

pytestmark = pytest.mark.e2e
TIMEOUT = 30_000  # ms, for any one element
SUCCESS = '[data-testid="stAlertContentSuccess"]'
CHART = '[data-testid="stVegaLiteChart"]'


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
    """A fresh browser context (own Streamlit session) per test."""
    context = browser.new_context(accept_downloads=True, viewport={"width": 1280, "height": 900})
    opened = context.new_page()
    opened.set_default_timeout(TIMEOUT)
    yield opened
    assert opened.locator('[data-testid="stException"]').count() == 0, "a traceback on the page"
    assert UI_TOKENS["MLOPS_ADMIN_TOKEN"] not in opened.content()
    assert UI_TOKENS["MLOPS_FEEDBACK_TOKEN"] not in opened.content()
    context.close()


def errors(page: Any) -> list[str]:
    texts: list[str] = page.locator('[data-testid="stAlertContentError"]').all_inner_texts()
    return texts


def fill_number(page: Any, label: str, value: float | str) -> None:
    field = page.get_by_role("spinbutton", name=label, exact=True)
    field.fill(str(value))
    field.press("Tab")  # Streamlit takes a number input's value when it loses focus


def test_predict_shows_the_class_and_the_version(page: Any, stack: Stack) -> None:
    served = set(requests.get(stack.api + "/config", timeout=5).json()["weights"])
    open_page(page, stack.ui, "text=sepal length")
    for label, value in zip(
        ["sepal length", "sepal width", "petal length", "petal width"], SETOSA_ROW, strict=True
    ):
        fill_number(page, label, value)
    page.get_by_role("button", name="Predict", exact=True).click()
    result = page.locator(SUCCESS)
    result.wait_for()
    text = result.inner_text()  # "setosa from model v1 in 0.21 ms"
    assert text.startswith("setosa from model ")
    assert text.split()[3] in served
    page.get_by_text("This session").wait_for()  # the history table below
    assert errors(page) == []


def test_batch_uploads_a_csv_shows_the_table_and_downloads(
    page: Any, stack: Stack, tmp_path: Path
) -> None:
    csv = tmp_path / "flowers.csv"
    csv.write_text(
        "id,sepal_length,sepal_width,petal_length,petal_width\n"
        "a,5.1,3.5,1.4,0.2\nb,6.7,3.0,5.2,2.3\nc,5.9,3.0,4.2,1.5\n"
    )
    open_page(page, stack.ui + "/batch", '[data-testid="stFileUploader"]')
    with page.expect_file_chooser() as chooser:  # as a person does: click, pick the file
        page.locator('[data-testid="stFileUploaderDropzone"] button').click()
    chooser.value.set_files(str(csv))
    page.get_by_text("flowers.csv").wait_for()
    page.get_by_role("button", name="Predict batch").click()
    assert page.locator(SUCCESS).inner_text().startswith("3 rows predicted by ")
    table = page.locator('[data-testid="stDataFrame"]')
    table.locator("canvas").first.wait_for()  # the grid is drawn on a canvas
    assert table.bounding_box()["height"] > 100  # header and three rows
    with page.expect_download() as download:
        page.get_by_role("button", name="Download results (CSV)").click()
    assert download.value.suggested_filename == "predictions.csv"
    lines = Path(download.value.path()).read_text().splitlines()
    header = lines[0].split(",")
    assert header[:7] == [
        "id", "sepal_length", "sepal_width", "petal_length", "petal_width", "prediction",
        "model_version",
    ]  # fmt: skip
    rows = [dict(zip(header, line.split(","), strict=True)) for line in lines[1:]]
    assert [row["id"] for row in rows] == ["a", "b", "c"]
    assert [row["prediction"] for row in rows] == ["setosa", "virginica", "versicolor"]
    assert {"p_setosa", "p_versicolor", "p_virginica"} <= set(header)
    assert errors(page) == []


def test_experiment_feedback_weights_and_verdict(page: Any, stack: Stack) -> None:
    answer = requests.post(stack.api + "/predict", json={"features": SETOSA_ROW}, timeout=5)
    request_id = answer.json()["request_id"]
    decision = requests.get(stack.api + "/experiment", timeout=5).json()["decision"]["decision"]
    open_page(page, stack.ui + "/experiment", "text=Traffic weights (admin)")
    verdict = page.locator('[data-testid="stAlert"]').first.inner_text()
    assert verdict.startswith(f"{decision}: ")  # the verdict and its reason
    # The UI's settings hold the admin token: no token field anywhere.
    assert page.locator('input[type="password"]').count() == 0

    page.get_by_role("textbox", name="Request id").fill(request_id)
    page.get_by_role("button", name="Send label").click()
    recorded = page.locator(SUCCESS).filter(has_text="Recorded:")
    recorded.wait_for()
    assert f"was correct for {request_id}" in recorded.inner_text()

    try:
        fill_number(page, "v1", "0.3")
        fill_number(page, "v2", "0.7")
        page.get_by_role("button", name="Change weights").click()
        changed = page.locator(SUCCESS).filter(has_text="Weights now")
        changed.wait_for()
        assert "0.3" in changed.inner_text()
        assert "0.7" in changed.inner_text()
        weights = requests.get(stack.api + "/config", timeout=5).json()["weights"]
        assert weights == {"v1": 0.3, "v2": 0.7}
        assert errors(page) == []
    finally:
        requests.put(
            stack.api + "/config/weights", json={"v1": 0.5, "v2": 0.5}, headers=ADMIN, timeout=5
        ).raise_for_status()


def test_monitoring_draws_charts_from_live_prometheus(page: Any, stack: Stack) -> None:
    with requests.Session() as http:
        for _ in range(40):
            http.post(stack.api + "/predict", json={"features": SETOSA_ROW}, timeout=5)
    deadline = time.monotonic() + 30
    query = {"query": 'sum(rate(mlops_requests_total{endpoint="/predict"}[1m])) > 0'}
    while True:  # a rate needs two scrapes that saw the traffic (1 s apart)
        body = requests.get(stack.prometheus + "/api/v1/query", params=query, timeout=5).json()
        if body["data"]["result"]:
            break
        assert time.monotonic() < deadline, "Prometheus never saw the traffic"
        time.sleep(0.25)  # polling Prometheus, not waiting for the browser
    open_page(page, stack.ui + "/monitoring", r"text=/window \d+ rows/")  # the last element
    charts = page.locator(CHART)
    # Request rate and p50/p99 latency at least; each drawn with its lines.
    assert charts.count() >= 3
    for index in range(3):
        charts.nth(index).locator("svg.marks path[aria-roledescription]:visible").first.wait_for()
    assert page.get_by_text("Request rate (req/s)").is_visible()
    assert page.locator('[data-testid="stAlertContentWarning"]').count() == 0  # Prometheus is up
    assert errors(page) == []
