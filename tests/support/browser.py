"""Debian's Chromium driven by Playwright, and the live stack a browser test looks at.

Used by the browser tests and by scripts/screenshots.py. Never `playwright install`: the browser is
the Debian package at /usr/bin/chromium.
"""

from __future__ import annotations

import contextlib
import os
import shutil
import subprocess
import sys
from collections.abc import Iterator, Mapping
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from mlops_pipeline.cli.launcher import UI_APP, prometheus_config
from tests.support.servers import (
    TOKENS_ENV,
    ServerExited,
    free_port,
    running_api,
    running_monitor,
    stop,
    wait_until_ready,
)

CHROMIUM = "/usr/bin/chromium"
CHROMIUM_ARGS = [
    "--no-sandbox",
    "--disable-gpu",
    "--disable-background-networking",
    "--disable-component-update",
    "--disable-sync",
]
DEPLOY = Path(__file__).resolve().parents[2] / "deploy" / "prometheus"
# The UI as `mlops up` starts it: both tokens in its environment.
UI_TOKENS = {
    "MLOPS_ADMIN_TOKEN": TOKENS_ENV["MLOPS_ADMIN_TOKEN"],
    "MLOPS_FEEDBACK_TOKEN": TOKENS_ENV["MLOPS_FEEDBACK_TOKEN"],
}


def unavailable_reason() -> str | None:
    """Why the browser stack cannot run here, or None."""
    if not Path(CHROMIUM).exists():
        return f"Debian `chromium` is not installed ({CHROMIUM} missing)"
    try:
        import playwright.sync_api  # noqa: F401
    except ImportError:
        return "PyPI `playwright` is not installed"
    if shutil.which("prometheus") is None:
        return "`prometheus` is not installed (not on PATH)"
    return None


@contextlib.contextmanager
def chromium() -> Iterator[Any]:
    """One headless Chromium (the Debian binary); closed, with its driver, on exit."""
    from playwright.sync_api import sync_playwright

    with sync_playwright() as playwright:
        browser = playwright.chromium.launch(executable_path=CHROMIUM, args=CHROMIUM_ARGS)
        try:
            yield browser
        finally:
            browser.close()


@dataclass(frozen=True)
class Stack:
    api: str
    ui: str
    prometheus: str


@contextlib.contextmanager
def _process(
    command: list[str], log: Path, env: Mapping[str, str] | None = None
) -> Iterator[subprocess.Popen[bytes]]:
    """A server in its own session (so a stuck one can be killed with its children)."""
    with open(log, "ab") as out:
        process = subprocess.Popen(
            command, env=env, stdout=out, stderr=subprocess.STDOUT, start_new_session=True
        )
        try:
            yield process
        finally:
            stop(process)


def _ready(url: str, process: subprocess.Popen[bytes], log: Path, timeout: float) -> None:
    try:
        wait_until_ready(url, timeout=timeout, process=process)
    except (ServerExited, TimeoutError) as exc:
        raise RuntimeError(f"{exc}; log {log}:\n{log.read_text()[-2000:]}") from None


@contextlib.contextmanager
def running_stack(artifacts: Path, folder: Path, ui_env: Mapping[str, str]) -> Iterator[Stack]:
    """API, monitor, Prometheus (1 s scrapes) and the Streamlit UI, each on a free port.

    Every process is stopped on exit, also when a later one fails to start; logs stay in
    ``folder``.
    """
    db = folder / "log.db"
    env = {"MLOPS_DRIFT_INTERVAL_SECONDS": "1", "MLOPS_EXPERIMENT_INTERVAL_SECONDS": "2"}
    with contextlib.ExitStack() as running:
        api = running.enter_context(
            running_api(artifacts, db, workers=1, extra_env=env, log_path=folder / "api.log")
        )
        monitor = running.enter_context(
            running_monitor(artifacts, db, extra_env=env, log_path=folder / "monitor.log")
        )
        config = prometheus_config(
            DEPLOY,
            folder / "prometheus",
            api.removeprefix("http://"),
            scrape_interval="1s",
            monitor_target=monitor.removeprefix("http://"),
        )
        prometheus_port, ui_port = free_port(), free_port()
        prometheus = f"http://127.0.0.1:{prometheus_port}"
        prometheus_log = folder / "prometheus.log"
        prometheus_process = running.enter_context(
            _process(
                [
                    shutil.which("prometheus") or "prometheus",
                    f"--config.file={config}",
                    f"--storage.tsdb.path={folder / 'tsdb'}",
                    f"--web.listen-address=127.0.0.1:{prometheus_port}",
                ],
                prometheus_log,
            )
        )
        ui = f"http://127.0.0.1:{ui_port}"
        ui_log = folder / "ui.log"
        ui_process = running.enter_context(
            _process(
                [
                    sys.executable, "-m", "streamlit", "run", str(UI_APP),
                    "--server.port", str(ui_port), "--server.address", "127.0.0.1",
                    "--server.headless", "true", "--browser.gatherUsageStats", "false",
                ],
                ui_log,
                env={
                    **os.environ,
                    "MLOPS_API_URL": api,
                    "MLOPS_PROMETHEUS_URL": prometheus,
                    "HOME": str(folder),  # Streamlit writes ~/.streamlit; keep it here
                    **ui_env,
                },
            )
        )  # fmt: skip
        _ready(prometheus + "/-/ready", prometheus_process, prometheus_log, timeout=30)
        _ready(ui + "/_stcore/health", ui_process, ui_log, timeout=60)
        yield Stack(api, ui, prometheus)


# Streamlit's "running" indicator, and the grey placeholders of elements not drawn yet.
_IDLE = """() => document.querySelector('[data-testid="stApp"]')
    && !document.querySelector('[data-testid="stStatusWidget"]')
    && !document.querySelector('[data-testid="stSkeleton"]')"""


def settle(page: Any, ready: str | None = None, timeout: float = 30_000) -> None:
    """Wait for the page's own element ``ready`` (when given), then until Streamlit has finished
    running the script: its status widget and any skeleton placeholder are gone."""
    if ready is not None:
        page.wait_for_selector(ready, timeout=timeout)
    page.wait_for_function(_IDLE, timeout=timeout)


def open_page(page: Any, url: str, ready: str, timeout: float = 30_000) -> None:
    """Navigate and wait for the page's element ``ready`` with the script finished."""
    page.goto(url)
    settle(page, ready, timeout)


def fit_viewport(page: Any, width: int = 1280) -> None:
    """Make the viewport as tall as the page's content: Streamlit scrolls inside its main
    section, so a full-page screenshot alone would cut long pages at the window's height."""
    height = page.evaluate(
        """() => {
            const main = document.querySelector('[data-testid="stMain"]');
            const block = document.querySelector('[data-testid="stMainBlockContainer"]');
            return Math.max(main ? main.scrollHeight : 0, block ? block.scrollHeight : 0);
        }"""
    )
    page.set_viewport_size({"width": width, "height": max(int(height) + 40, 600)})
