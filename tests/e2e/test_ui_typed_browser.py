"""The generated Predict form in a real browser (Playwright driving Debian's Chromium) against a
real `mlops serve` on the penguins model and a real Streamlit: choose an island, leave sex missing,
submit, and see the class by name; the API logged the row with ``sex: null``."""

from __future__ import annotations

import os
import subprocess
import sys
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
import requests

from mlops_pipeline.cli.launcher import UI_APP
from tests.e2e.test_ui_typed import CLASSES, newest_logged, train_penguins
from tests.support.browser import CHROMIUM, chromium
from tests.support.servers import free_port, running_api, stop, wait_until_ready

pytestmark = pytest.mark.e2e
TIMEOUT = 30_000  # ms, for any one element
SUCCESS = '[data-testid="stAlertContentSuccess"]'


def _unavailable() -> str | None:
    if not Path(CHROMIUM).exists():
        return f"Debian `chromium` is not installed ({CHROMIUM} missing)"
    try:
        import playwright.sync_api  # noqa: F401
    except ImportError:
        return "PyPI `playwright` is not installed"
    return None


@pytest.fixture(scope="module")
def stack(tmp_path_factory: pytest.TempPathFactory) -> Iterator[tuple[str, str]]:
    """(API, UI) base URLs: `mlops serve` on penguins and `streamlit run` of the UI app."""
    reason = _unavailable()
    if reason is not None:
        pytest.skip(reason)
    folder = tmp_path_factory.mktemp("ui-typed-browser")
    env = {"MLOPS_MODEL_NAME": "penguins"}
    with running_api(
        train_penguins(folder), folder / "log.db", workers=1, extra_env=env,
        log_path=folder / "api.log",
    ) as api:  # fmt: skip
        port = free_port()
        ui = f"http://127.0.0.1:{port}"
        with open(folder / "ui.log", "ab") as log:
            process = subprocess.Popen(
                [
                    sys.executable, "-m", "streamlit", "run", str(UI_APP),
                    "--server.port", str(port), "--server.address", "127.0.0.1",
                    "--server.headless", "true", "--browser.gatherUsageStats", "false",
                ],
                env={**os.environ, "MLOPS_API_URL": api, "HOME": str(folder)},
                stdout=log, stderr=subprocess.STDOUT, start_new_session=True,
            )  # fmt: skip
            try:
                wait_until_ready(ui + "/_stcore/health", timeout=60, process=process)
                yield api, ui
            finally:
                stop(process)


@pytest.fixture
def page(stack: tuple[str, str]) -> Iterator[Any]:
    with chromium() as browser:
        context = browser.new_context(viewport={"width": 1280, "height": 1000})
        opened = context.new_page()
        opened.set_default_timeout(TIMEOUT)
        yield opened
        assert opened.locator('[data-testid="stException"]').count() == 0, "a traceback"
        context.close()


def test_the_generated_form_predicts_with_sex_left_missing(
    page: Any, stack: tuple[str, str]
) -> None:
    api, ui = stack
    page.goto(ui)
    island = page.get_by_role("combobox", name="island", exact=True)
    island.wait_for()
    sex = page.get_by_role("combobox", name="sex", exact=True)
    assert sex.input_value() == "(missing)"  # left as it starts: missing
    assert page.get_by_role("spinbutton", name="year", exact=True).input_value() == "2008"
    island.click()
    page.get_by_role("option", name="Dream", exact=True).click()
    page.wait_for_function(
        """() => document.querySelector('input[role="combobox"][aria-label="island"]')
            .value === 'Dream'"""
    )
    page.get_by_role("button", name="Predict", exact=True).click()
    result = page.locator(SUCCESS)
    result.wait_for()
    text = result.inner_text()  # "Chinstrap from model v1 in 0.93 ms"
    assert text.split()[0] in CLASSES
    assert text.split()[3] in requests.get(api + "/config", timeout=5).json()["weights"]
    assert page.locator('[data-testid="stAlertContentError"]').count() == 0
    logged = newest_logged(api)["features"]
    assert (logged["island"], logged["sex"]) == ("Dream", None)
