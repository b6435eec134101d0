"""Screenshot every UI page with Debian's Chromium driven by Playwright (as the browser tests do).

Starts the API, the monitor, Prometheus and the UI on free ports with freshly trained models and
both tokens (as `mlops up` does), sends traffic and labels so the pages have something to show,
waits for each page to finish rendering (the page's last element, and Streamlit's running
indicator and placeholders gone), fits the window to the page's height, then writes
docs/screenshots/<page>.png.

Run: .venv/bin/python -m scripts.screenshots
"""

from __future__ import annotations

import sys
import tempfile
import time
from pathlib import Path
from typing import Any

import numpy as np
import requests

ROOT = Path(__file__).resolve().parents[1]
from tests.support.browser import (  # noqa: E402
    UI_TOKENS,
    chromium,
    fit_viewport,
    open_page,
    running_stack,
    settle,
    unavailable_reason,
)
from tests.support.helpers import FEEDBACK  # noqa: E402

from mlops_pipeline.config import load_catalogue  # noqa: E402
from mlops_pipeline.training.data import load_iris_dataset  # noqa: E402
from mlops_pipeline.training.trainer import train_all  # noqa: E402

OUT = ROOT / "docs" / "screenshots"
WIDTH = 1280
# page -> (path, an element once the page has loaded, its last element once the person's
# action (prepare) is answered: Streamlit renders top to bottom)
PAGES = {
    "predict": ("", "text=sepal length", '[data-testid="stDataFrame"]'),
    "batch": ("batch", '[data-testid="stFileUploader"]', '[data-testid="stDownloadButton"]'),
    "experiment": ("experiment", "text=Send feedback", "button >> text=Change weights"),
    "monitoring": ("monitoring", "text=Monitoring", r"text=/window \d+ rows/"),
}


def traffic(api: str) -> None:
    """200 predictions of Iris rows; a label for every third."""
    rng = np.random.default_rng(0)
    iris = load_iris_dataset()
    with requests.Session() as http:
        for index in rng.integers(0, 150, size=200):
            answer = http.post(
                api + "/predict", json={"features": iris.features[index].tolist()}, timeout=5
            )
            answer.raise_for_status()
            if index % 3 == 0:
                http.post(
                    api + "/feedback",
                    json={
                        "request_id": answer.json()["request_id"],
                        "true_label": int(iris.labels[index]),
                    },
                    headers=FEEDBACK,
                    timeout=5,
                ).raise_for_status()


def wait_for_labels(api: str, timeout: float = 30.0) -> None:
    """Until the monitor's experiment report counts the labels sent."""
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        versions = requests.get(api + "/experiment", timeout=5).json()["versions"]
        if all(stats["labelled"] > 0 for stats in versions.values()):
            return
        time.sleep(0.5)
    raise TimeoutError("the experiment report never counted the labels")


def prepare(page: Any, name: str, work: Path) -> None:
    """What a person does first on the page so the screenshot shows an answer."""
    if name == "predict":
        page.get_by_role("button", name="Predict", exact=True).click()
    elif name == "batch":
        csv = work / "flowers.csv"
        iris = load_iris_dataset()
        rows = "\n".join(",".join(str(v) for v in row) for row in iris.features[::15])
        csv.write_text(",".join(iris.feature_names) + "\n" + rows + "\n")
        with page.expect_file_chooser() as chooser:
            page.locator('[data-testid="stFileUploaderDropzone"] button').click()
        chooser.value.set_files(str(csv))
        page.get_by_role("button", name="Predict batch").click()


def main() -> None:
    reason = unavailable_reason()
    if reason is not None:
        sys.exit(f"cannot take screenshots: {reason}")
    with tempfile.TemporaryDirectory(prefix="mlops-shots-") as folder:
        work = Path(folder)
        train_all(load_iris_dataset(), load_catalogue(), work / "artifacts")
        with running_stack(work / "artifacts", work, UI_TOKENS) as stack, chromium() as browser:
            for _ in range(3):  # half a minute of traffic gives the rate charts a few points
                traffic(stack.api)
                time.sleep(5)
            wait_for_labels(stack.api)
            OUT.mkdir(parents=True, exist_ok=True)
            for name, (path, loaded, ready) in PAGES.items():
                page = browser.new_page(viewport={"width": WIDTH, "height": 900})
                page.set_default_timeout(60_000)
                open_page(page, f"{stack.ui}/{path}", loaded)
                prepare(page, name, work)
                settle(page, ready)
                fit_viewport(page, WIDTH)
                settle(page)
                # Two animation frames: the charts and the table have redrawn at the new size.
                page.evaluate(
                    "() => new Promise(r => requestAnimationFrame(() => requestAnimationFrame(r)))"
                )
                target = OUT / f"{name}.png"
                page.screenshot(path=str(target), full_page=True)
                page.close()
                print(f"wrote {target.relative_to(ROOT)}")


if __name__ == "__main__":
    main()
