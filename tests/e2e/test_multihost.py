"""The deployment as several hosts on this machine: three API replicas and three monitors, each
pair in its own network namespace, behind haproxy, on one real PostgreSQL, scraped by a real
Prometheus. Skipped only where it cannot run (not root, no `ip`, PostgreSQL, haproxy or
Prometheus).
"""

from __future__ import annotations

import concurrent.futures
import threading
import time
from collections.abc import Iterator
from pathlib import Path

import pytest
import requests

from tests.e2e.test_rollout_e2e import PLAN
from tests.support.cluster import (
    MONITOR_INTERVAL,
    SYNC_SECONDS,
    Cluster,
    kill_group,
    running_cluster,
    skip_reason,
)
from tests.support.helpers import ADMIN, FEEDBACK, SETOSA_ROW
from tests.support.netns import Host
from tests.support.servers import run_cli

pytestmark = pytest.mark.e2e

REPLICAS = 3


@pytest.fixture(scope="module")
def cluster(artifacts_dir: Path) -> Iterator[Cluster]:
    reason = skip_reason()
    if reason is not None:
        pytest.skip(reason)
    fast = {"MLOPS_MODEL_SYNC_SECONDS": "1", "MLOPS_ROLLOUT_INTERVAL_SECONDS": "1"}
    with running_cluster(artifacts_dir, REPLICAS, extra_env=fast) as running:
        yield running


def predict(http: requests.Session, url: str, **extra: object) -> requests.Response:
    return http.post(url + "/predict", json={"features": SETOSA_ROW, **extra}, timeout=10)


def adopted(cluster: Cluster, host: Host, weights: dict[str, float], deadline: float) -> None:
    """Return once ``host``'s replica routes by ``weights``, or at ``deadline`` (monotonic): each
    replica adopts a stored split on its own sync thread, which a loaded machine runs late."""
    url = cluster.replica_url(host) + "/config"
    while requests.get(url, timeout=5).json()["weights"] != weights:
        if time.monotonic() > deadline:
            return
        time.sleep(0.05)


def test_every_answer_through_the_proxy_has_exactly_one_row(cluster: Cluster) -> None:
    with requests.Session() as http:
        answers = [predict(http, cluster.proxy) for _ in range(300)]
    assert all(answer.status_code == 200 for answer in answers)
    ids = [answer.json()["request_id"] for answer in answers]
    assert cluster.rows(ids) == dict.fromkeys(ids, 1)
    for host in cluster.hosts:  # round robin reached every replica
        metrics = requests.get(cluster.replica_url(host) + "/metrics", timeout=5).text
        assert 'mlops_requests_total{endpoint="/predict",method="POST",status="200"}' in metrics


def test_a_weight_change_on_one_replica_reaches_all_within_the_sync_interval(
    cluster: Cluster,
) -> None:
    first = cluster.replica_url(cluster.hosts[0])
    changed = requests.put(
        first + "/config/weights", json={"v1": 0.0, "v2": 1.0}, headers=ADMIN, timeout=5
    )
    assert changed.status_code == 200
    started = time.monotonic()
    with requests.Session() as http:
        for host in cluster.hosts:
            adopted(cluster, host, {"v1": 0.0, "v2": 1.0}, started + SYNC_SECONDS * 2 + 5)
            versions = {
                predict(http, cluster.replica_url(host)).json()["model_version"] for _ in range(20)
            }
            assert versions == {"v2"}, host.name
    assert time.monotonic() - started < SYNC_SECONDS * 2 + 5
    back = requests.put(
        first + "/config/weights", json={"v1": 0.5, "v2": 0.5}, headers=ADMIN, timeout=5
    )
    assert back.status_code == 200
    for host in cluster.hosts:  # the next test needs the same split on every replica
        adopted(cluster, host, {"v1": 0.5, "v2": 0.5}, time.monotonic() + 30)


def test_a_sticky_user_gets_the_same_version_from_every_replica(cluster: Cluster) -> None:
    with requests.Session() as http:
        for user in ("alice", "bob", "carol", "dave"):
            versions = {
                predict(http, cluster.replica_url(host), user_id=user).json()["model_version"]
                for host in cluster.hosts
                for _ in range(3)
            }
            assert len(versions) == 1, (user, versions)


def test_drift_is_one_report_over_all_replicas_rows(cluster: Cluster) -> None:
    time.sleep(MONITOR_INTERVAL * 2.5)  # the leader recomputes after the traffic above
    # The leader stores a new report every interval, so three reads in a row can straddle one
    # store; the replicas agree when every read lands between two stores.
    deadline = time.monotonic() + MONITOR_INTERVAL * 10
    while True:
        reports = [
            requests.get(cluster.replica_url(host) + "/drift", timeout=5).json()
            for host in cluster.hosts
        ]
        if all(report == reports[0] for report in reports) or time.monotonic() > deadline:
            break
        time.sleep(MONITOR_INTERVAL / 4)
    assert all(report == reports[0] for report in reports)
    assert reports[0]["source"] == "monitor"
    assert reports[0]["window_size"] == 100  # far more rows than any single replica answered


def test_a_worse_v3_registered_on_postgresql_is_rolled_back_on_every_replica(
    cluster: Cluster, artifacts_dir: Path, v3_candidate: Path, iris_rows: list[list[float]]
) -> None:
    env = {"MLOPS_DATABASE_URL": cluster.database, "MLOPS_ARTIFACTS_DIR": str(artifacts_dir)}
    registered = time.monotonic()
    run_cli("models", "register", str(v3_candidate), "--version", "v3", env=env)
    for host in cluster.hosts:  # the bytes came from the database: no shared volume
        while "v3" not in requests.get(cluster.replica_url(host) + "/models", timeout=5).json():
            assert time.monotonic() - registered < 10, f"{host.name} does not serve v3"
            time.sleep(0.1)
    before = requests.get(cluster.replica_url(cluster.hosts[0]) + "/config", timeout=5).json()
    started = requests.post(cluster.proxy + "/rollouts", json=PLAN, headers=ADMIN, timeout=5)
    assert started.status_code == 201, started.text
    deadline, index, state = time.monotonic() + 120, 0, "running"
    with requests.Session() as http:
        while state == "running":
            assert time.monotonic() < deadline, "the rollout was not rolled back"
            for _ in range(20):
                features = iris_rows[index % len(iris_rows)]
                index += 1
                answer = predict(http, cluster.proxy, features=features).json()
                wrong = answer["model_version"] == "v3"
                label = (answer["prediction"] + wrong) % 3
                body = {"request_id": answer["request_id"], "true_label": label}
                http.post(cluster.proxy + "/feedback", json=body, headers=FEEDBACK, timeout=5)
            latest = http.get(cluster.proxy + "/rollouts?limit=1", timeout=5).json()
            state = latest["rollouts"][0]["state"]
    rollout = latest["rollouts"][0]
    assert state == "rolled_back", rollout["reason"]
    assert [e["event"] for e in rollout["events"]][-1] == "rolled_back"
    for host in cluster.hosts:
        adopted(cluster, host, {**before["weights"], "v3": 0.0}, time.monotonic() + 30)
        weights = requests.get(cluster.replica_url(host) + "/config", timeout=5).json()["weights"]
        assert weights == {**before["weights"], "v3": 0.0}


def test_prometheus_sums_predictions_over_replicas_to_the_log(cluster: Cluster) -> None:
    expected = cluster.predicted_rows()
    deadline = time.monotonic() + 15
    while True:
        body = requests.get(
            cluster.prometheus + "/api/v1/query",
            params={"query": 'sum(mlops_predictions_total{job="mlops-api"})'},
            timeout=5,
        ).json()
        result = body["data"]["result"]
        if result and float(result[0]["value"][1]) == expected:
            break
        assert time.monotonic() < deadline, f"Prometheus saw {result}, the log has {expected}"
        time.sleep(0.5)
    deadline = time.monotonic() + 10
    while True:  # every replica and every monitor is scraped
        up = requests.get(
            cluster.prometheus + "/api/v1/query", params={"query": "up"}, timeout=5
        ).json()["data"]["result"]
        down = [item["metric"]["instance"] for item in up if item["value"][1] != "1"]
        if len(up) == 2 * REPLICAS and not down:
            break
        assert time.monotonic() < deadline, f"targets {len(up)}, down {down}"
        time.sleep(0.5)


def test_killing_a_replica_under_load_loses_no_answered_prediction(cluster: Cluster) -> None:
    stop_at = time.monotonic() + 8
    victim = cluster.hosts[-1]
    answered: list[str] = []
    failures: list[str] = []
    lock = threading.Lock()

    def load() -> None:
        with requests.Session() as http:
            while time.monotonic() < stop_at:
                try:
                    response = predict(http, cluster.proxy)
                except requests.RequestException as exc:
                    with lock:
                        failures.append(type(exc).__name__)
                    continue
                with lock:
                    if response.status_code == 200:
                        answered.append(response.json()["request_id"])
                    else:
                        failures.append(str(response.status_code))

    with concurrent.futures.ThreadPoolExecutor(8) as pool:
        futures = [pool.submit(load) for _ in range(8)]
        time.sleep(3)
        kill_group(cluster.replicas[victim.name])
        for future in futures:
            future.result()
    total = len(answered) + len(failures)
    assert total > 200
    assert len(failures) <= 0.01 * total, f"{len(failures)} of {total} failed: {failures[:5]}"
    assert cluster.rows(answered) == dict.fromkeys(answered, 1)


def test_killing_the_leading_monitor_hands_over_within_two_intervals(cluster: Cluster) -> None:
    def leaders() -> list[str]:
        found = []
        for host in cluster.hosts:
            if cluster.monitors[host.name].poll() is not None:
                continue
            health = requests.get(cluster.monitor_url(host) + "/health", timeout=5).json()
            if health["leader"]:
                found.append(host.name)
        return found

    (leader,) = leaders()
    kill_group(cluster.monitors[leader])
    killed_at = time.monotonic()
    while True:
        current = leaders()
        if current:
            break
        assert time.monotonic() - killed_at < 2 * MONITOR_INTERVAL + 1, "no standby took over"
        time.sleep(0.1)
    assert len(current) == 1
    assert current[0] != leader
