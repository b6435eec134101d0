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
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from mlops_pipeline.cli.launcher import UI_APP, prometheus_config

from servers import TOKENS_ENV, free_port, running_api, running_monitor, stop, wait_until_ready

CHROMIUM = "/usr/bin/chromium"
CHROMIUM_ARGS = [
    "--no-sandbox",
    "--disable-gpu",
    "--disable-background-networking",
    "--disable-component-update",
    "--disable-sync",
]
DEPLOY = Path(__file__).resolve().parents[1] / "deploy" / "prometheus"


def unavailable_reason() -> str | None:
    if not Path(CHROMIUM).exists():
        return "Debian `chromium` is not installed"
    try:
        import playwright.sync_api  # noqa: F401
    except ImportError:
        return "PyPI `playwright` is not installed"
    if shutil.which("prometheus") is None:
        return "`prometheus` is not installed"
    return None


@contextlib.contextmanager
def chromium() -> Iterator[Any]:
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
def running_stack(artifacts: Path, folder: Path, ui_env: dict[str, str]) -> Iterator[Stack]:
    """API, monitor, Prometheus (1 s scrapes) and the Streamlit UI, each on a free port."""
    db = folder / "log.db"
    env = {"MLOPS_DRIFT_INTERVAL_SECONDS": "1", "MLOPS_EXPERIMENT_INTERVAL_SECONDS": "2"}
    with (
        running_api(artifacts, db, workers=1, extra_env=env) as api,
        running_monitor(artifacts, db, extra_env=env) as monitor,
    ):
        config = prometheus_config(
            DEPLOY,
            folder / "prometheus",
            api.removeprefix("http://"),
            scrape_interval="1s",
            monitor_target=monitor.removeprefix("http://"),
        )
        prometheus_port, ui_port = free_port(), free_port()
        processes = [
            subprocess.Popen(
                [
                    "prometheus",
                    f"--config.file={config}",
                    f"--storage.tsdb.path={folder / 'tsdb'}",
                    f"--web.listen-address=127.0.0.1:{prometheus_port}",
                ],
                stdout=subprocess.DEVNULL,
                stderr=subprocess.DEVNULL,
            )
        ]
        prometheus = f"http://127.0.0.1:{prometheus_port}"
        ui_environment = {
            **os.environ,
            "MLOPS_API_URL": api,
            "MLOPS_PROMETHEUS_URL": prometheus,
            "HOME": str(folder),
            **ui_env,
        }
        processes.append(
            subprocess.Popen(
                [
                    sys.executable, "-m", "streamlit", "run", str(UI_APP),
                    "--server.port", str(ui_port), "--server.address", "127.0.0.1",
                    "--server.headless", "true", "--browser.gatherUsageStats", "false",
                ],
                env=ui_environment,
                stdout=subprocess.DEVNULL,
                stderr=subprocess.DEVNULL,
                start_new_session=True,
            )
        )  # fmt: skip
        ui = f"http://127.0.0.1:{ui_port}"
        try:
            wait_until_ready(prometheus + "/-/ready", process=processes[0])
            wait_until_ready(ui + "/_stcore/health", timeout=60, process=processes[1])
            yield Stack(api, ui, prometheus)
        finally:
            for process in processes:
                stop(process)


UI_TOKENS = {
    "MLOPS_ADMIN_TOKEN": TOKENS_ENV["MLOPS_ADMIN_TOKEN"],
    "MLOPS_FEEDBACK_TOKEN": TOKENS_ENV["MLOPS_FEEDBACK_TOKEN"],
}


def settle(page: Any, timeout: float = 30_000) -> None:
    """Wait until Streamlit has finished running the page script (its status widget is gone)."""
    page.wait_for_selector('[data-testid="stApp"]', timeout=timeout)
    page.wait_for_function(
        "() => !document.querySelector('[data-testid=\"stStatusWidget\"]')", timeout=timeout
    )
