"""Screenshot every UI page with Debian's Chromium driven by Playwright (as the browser tests do).

Starts the API, the monitor, Prometheus and the UI on free ports with freshly trained models,
sends traffic and labels so the pages have something to show, waits for each page to finish
rendering (an element of that page, and Streamlit's running indicator gone), then writes
docs/screenshots/<page>.png.

Run: .venv/bin/python scripts/screenshots.py
"""

from __future__ import annotations

import sys
import tempfile
import time
from pathlib import Path

import numpy as np
import requests

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT / "tests"))
from mlops_pipeline.config import load_catalogue  # noqa: E402
from mlops_pipeline.training.data import load_iris_dataset  # noqa: E402
from mlops_pipeline.training.trainer import train_all  # noqa: E402

from browser import UI_TOKENS, chromium, running_stack, settle, unavailable_reason  # noqa: E402
from helpers import FEEDBACK  # noqa: E402

OUT = ROOT / "docs" / "screenshots"
# page -> (path, the page's last element: Streamlit renders top to bottom)
PAGES = {
    "predict": ("", '[data-testid="stVegaLiteChart"]'),
    "batch": ("batch", "text=Download results (CSV)"),
    "experiment": ("experiment", "text=Change weights"),
    "monitoring": ("monitoring", "text=Drift by feature"),
}


def traffic(api: str) -> None:
    rng = np.random.default_rng(0)
    iris = load_iris_dataset()
    with requests.Session() as http:
        for index in rng.integers(0, 150, size=200):
            answer = http.post(
                api + "/predict", json={"features": iris.features[index].tolist()}, timeout=5
            ).json()
            if index % 3 == 0:
                http.post(
                    api + "/feedback",
                    json={
                        "request_id": answer["request_id"],
                        "true_label": int(iris.labels[index]),
                    },
                    headers=FEEDBACK,
                    timeout=5,
                )


def prepare(page: object, name: str, work: Path) -> None:
    """What a person does first on the page so the screenshot shows an answer."""
    if name == "predict":
        page.get_by_role("button", name="Predict", exact=True).click()  # type: ignore[attr-defined]
    elif name == "batch":
        csv = work / "flowers.csv"
        iris = load_iris_dataset()
        rows = "\n".join(",".join(str(v) for v in row) for row in iris.features[::15])
        csv.write_text(",".join(iris.feature_names) + "\n" + rows + "\n")
        page.locator('input[type="file"]').set_input_files(str(csv))  # type: ignore[attr-defined]
        page.get_by_role("button", name="Predict batch").click()  # type: ignore[attr-defined]


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
            time.sleep(3)  # the monitor's next experiment report
            OUT.mkdir(parents=True, exist_ok=True)
            page = browser.new_page(viewport={"width": 1280, "height": 1400})
            page.set_default_timeout(60_000)
            for name, (path, ready) in PAGES.items():
                page.goto(f"{stack.ui}/{path}")
                settle(page)
                prepare(page, name, work)
                page.wait_for_selector(ready)
                settle(page)
                page.wait_for_function(  # no skeleton placeholder left
                    "() => !document.querySelector('[data-testid=\"stSkeleton\"]')"
                )
                page.wait_for_timeout(500)  # charts animate in
                target = OUT / f"{name}.png"
                page.screenshot(path=str(target), full_page=True)
                print(f"wrote {target.relative_to(ROOT)}")


if __name__ == "__main__":
    main()
