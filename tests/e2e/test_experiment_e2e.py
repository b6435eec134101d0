"""Runtime weights reach every worker and, with feedback, survive a restart."""

from __future__ import annotations

from pathlib import Path

import pytest
import requests

from tests.support.helpers import ADMIN, ADMIN_TOKEN, FEEDBACK, FEEDBACK_TOKEN, SETOSA_ROW
from tests.support.servers import running_api, split_everywhere

pytestmark = pytest.mark.e2e

ENV = {
    "MLOPS_ADMIN_TOKEN": ADMIN_TOKEN,
    "MLOPS_FEEDBACK_TOKEN": FEEDBACK_TOKEN,
    "MLOPS_WEIGHTS_SYNC_SECONDS": "0.2",
}


def test_weights_and_feedback_across_workers_and_restarts(
    artifacts_dir: Path, tmp_path: Path
) -> None:
    db_path = tmp_path / "log.db"
    with (
        running_api(artifacts_dir, db_path, workers=2, extra_env=ENV) as url,
        requests.Session() as http,
    ):
        answers = [
            http.post(url + "/predict", json={"features": SETOSA_ROW}, timeout=5).json()
            for _ in range(10)
        ]
        for answer in answers:
            http.post(
                url + "/feedback",
                json={"request_id": answer["request_id"], "true_label": "setosa"},
                headers=FEEDBACK,
                timeout=5,
            )
        change = http.put(
            url + "/config/weights", json={"v1": 0.0, "v2": 1.0}, headers=ADMIN, timeout=5
        )
        assert change.status_code == 200
        # Every worker re-reads the split every 0.2 s on a thread of its own, which a loaded
        # machine may run late: ten /config answers in a row with it rather than a fixed sleep.
        split_everywhere(url, lambda split: split == {"v1": 0.0, "v2": 1.0})
        versions = {
            http.post(url + "/predict", json={"features": SETOSA_ROW}, timeout=5).json()[
                "model_version"
            ]
            for _ in range(60)
        }
        assert versions == {"v2"}
        before = http.get(url + "/experiment", timeout=5).json()

    with (
        running_api(artifacts_dir, db_path, workers=2, extra_env=ENV) as url,
        requests.Session() as http,
    ):
        assert http.get(url + "/config", timeout=5).json()["weights"] == {"v1": 0.0, "v2": 1.0}
        history = http.get(url + "/config/history", headers=ADMIN, timeout=5).json()["changes"]
        assert [change["new"] for change in history] == [{"v1": 0.0, "v2": 1.0}]
        after = http.get(url + "/experiment", timeout=5).json()
        for version in ("v1", "v2"):
            assert after["versions"][version]["labelled"] == before["versions"][version]["labelled"]
            assert after["versions"][version]["accuracy"] == before["versions"][version]["accuracy"]
        assert after["decision"] == before["decision"]
        assert sum(v["labelled"] for v in after["versions"].values()) == 10
