"""End to end: train into a temporary folder, `mlops serve --workers 2` on a free port, HTTP."""

from __future__ import annotations

import sqlite3
from collections import Counter
from collections.abc import Iterator
from pathlib import Path

import pytest
import requests
from prometheus_client.parser import text_string_to_metric_families

from tests.support.helpers import ADMIN, SETOSA_ROW
from tests.support.servers import running_api

pytestmark = pytest.mark.e2e

JSON_TYPE = {"Content-Type": "application/json"}


@pytest.fixture(scope="module")
def server(
    artifacts_dir: Path, tmp_path_factory: pytest.TempPathFactory
) -> Iterator[tuple[str, Path]]:
    folder = tmp_path_factory.mktemp("e2e")
    db_path = folder / "log.db"
    with running_api(artifacts_dir, db_path, workers=2, log_path=folder / "server.log") as url:
        yield url, db_path


def metric_totals(url: str) -> dict[tuple[str, tuple[tuple[str, str], ...]], float]:
    text = requests.get(url + "/metrics", timeout=5).text
    return {
        (sample.name, tuple(sorted(sample.labels.items()))): sample.value
        for family in text_string_to_metric_families(text)
        for sample in family.samples
    }


def total(
    samples: dict[tuple[str, tuple[tuple[str, str], ...]], float], name: str, **match: str
) -> float:
    return sum(
        value
        for (sample_name, labels), value in samples.items()
        if sample_name == name and all(dict(labels).get(k) == v for k, v in match.items())
    )


def test_traffic_split_stickiness_errors_metrics_and_log(server: tuple[str, Path]) -> None:
    url, db_path = server
    with requests.Session() as http:
        random_versions = Counter(
            http.post(url + "/predict", json={"features": SETOSA_ROW}, timeout=5).json()[
                "model_version"
            ]
            for _ in range(300)
        )
        sticky = {
            user: {
                http.post(
                    url + "/predict", json={"features": SETOSA_ROW, "user_id": user}, timeout=5
                ).json()["model_version"]
                for _ in range(10)
            }
            for user in ("alice", "bob", "carol", "dave", "erin")
        }
        batch = http.post(url + "/predict", json={"instances": [SETOSA_ROW] * 100}, timeout=10)
        errors = [
            http.post(url + "/predict", data="{oops", headers=JSON_TYPE, timeout=5),
            http.post(url + "/predict", data="{oops", headers=JSON_TYPE, timeout=5),
            http.post(url + "/predict", json={"features": [1, 2]}, timeout=5),
            http.get(url + "/missing", timeout=5),
        ]

    # Binomial(300, 0.5): sd 8.7; 4 sd either way.
    assert random_versions["v1"] + random_versions["v2"] == 300
    assert abs(random_versions["v1"] - 150) < 35
    assert all(len(versions) == 1 for versions in sticky.values())
    assert sticky["alice"] == {"v1"}
    assert sticky["bob"] == {"v2"}
    assert batch.json()["predictions"] == [0] * 100
    assert [(r.status_code, r.json()["code"]) for r in errors] == [
        (400, "invalid_json"),
        (400, "invalid_json"),
        (400, "wrong_feature_count"),
        (404, "not_found"),
    ]

    # Every worker's counts appear in every scrape, whichever worker answers it.
    for _ in range(4):
        samples = metric_totals(url)
        assert total(samples, "mlops_requests_total", endpoint="/predict", status="200") == 351
        assert total(samples, "mlops_predictions_total") == 300 + 50 + 100
        assert total(samples, "mlops_predictions_total", model_version="v1") == (
            random_versions["v1"]
            + 10 * sum(v == {"v1"} for v in sticky.values())
            + (100 if batch.json()["model_version"] == "v1" else 0)
        )
        assert total(samples, "mlops_errors_total", code="invalid_json") == 2
        assert total(samples, "mlops_errors_total", code="wrong_feature_count") == 1
        assert total(samples, "mlops_inference_latency_seconds_count") == 351
        assert total(samples, "mlops_ab_weight", model_version="v1") == 0.5

    with sqlite3.connect(db_path) as db:
        rows = db.execute("SELECT SUM(n_rows), COUNT(*) FROM predictions").fetchone()
        assert rows == (450, 351)
        logged_versions = dict(
            db.execute("SELECT model_version, COUNT(*) FROM predictions GROUP BY 1").fetchall()
        )
    answered = Counter(random_versions)
    for versions in sticky.values():
        answered[next(iter(versions))] += 10
    answered[batch.json()["model_version"]] += 1
    assert logged_versions == dict(answered)


def test_recent_predictions_come_from_all_workers(server: tuple[str, Path]) -> None:
    url, _ = server
    ids = [
        requests.post(url + "/predict", json={"features": SETOSA_ROW}, timeout=5).json()[
            "request_id"
        ]
        for _ in range(20)
    ]
    logged = requests.get(url + "/predictions?limit=20", headers=ADMIN, timeout=5).json()[
        "predictions"
    ]
    assert {row["request_id"] for row in logged} == set(ids)
