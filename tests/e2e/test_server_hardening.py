"""`mlops serve` as shipped, over real sockets: slow clients, chunked bodies, the access log."""

from __future__ import annotations

import json
import threading
import time
from collections.abc import Iterator
from pathlib import Path

import pytest
import requests

from tests.support.helpers import SETOSA_ROW
from tests.support.servers import running_api, trickle

pytestmark = pytest.mark.e2e

MAX_BODY = 64 * 1024
SLOW_CLIENTS = 32
TRICKLE_SECONDS = 20


@pytest.fixture(scope="module")
def served(
    artifacts_dir: Path, tmp_path_factory: pytest.TempPathFactory
) -> Iterator[tuple[str, Path]]:
    folder = tmp_path_factory.mktemp("hardening")
    log = folder / "server.log"
    env = {"MLOPS_MAX_BODY_BYTES": str(MAX_BODY)}
    with running_api(artifacts_dir, folder / "log.db", extra_env=env, log_path=log) as url:
        yield url, log


def test_slow_clients_cannot_starve_health_checks(served: tuple[str, Path]) -> None:
    url, _ = served
    host, port = url.removeprefix("http://").split(":")
    stop = threading.Event()
    thread = threading.Thread(
        target=trickle, args=(host, int(port), SLOW_CLIENTS, TRICKLE_SECONDS, stop), daemon=True
    )
    thread.start()
    times = []
    try:
        deadline = time.monotonic() + TRICKLE_SECONDS
        while time.monotonic() < deadline:
            started = time.monotonic()
            response = requests.get(url + "/health", timeout=5)
            times.append(time.monotonic() - started)
            assert response.status_code == 200
            time.sleep(0.5)
    finally:
        stop.set()
        thread.join()
    assert len(times) >= TRICKLE_SECONDS
    assert max(times) < 1.0, f"slowest health check {max(times):.2f} s"


def chunks(total: int, size: int = 8192) -> Iterator[bytes]:
    # A generator body makes requests send Transfer-Encoding: chunked with no Content-Length.
    sent = 0
    while sent < total:
        piece = min(size, total - sent)
        yield b" " * piece
        sent += piece


def test_chunked_bodies_over_the_limit_are_413_like_sized_ones(served: tuple[str, Path]) -> None:
    url, _ = served
    headers = {"Content-Type": "application/json"}
    sized = requests.post(url + "/predict", data=b" " * (MAX_BODY + 1), headers=headers, timeout=10)
    chunked = requests.post(
        url + "/predict", data=chunks(MAX_BODY * 4), headers=headers, timeout=10
    )
    for response in (sized, chunked):
        assert response.status_code == 413
        assert response.json()["code"] == "payload_too_large"

    def small_body() -> Iterator[bytes]:
        yield json.dumps({"features": SETOSA_ROW}).encode()
        yield b" " * 1000

    accepted = requests.post(url + "/predict", data=small_body(), headers=headers, timeout=10)
    assert accepted.status_code == 200
    assert accepted.json()["class_name"] == "setosa"


def test_stderr_has_one_json_line_per_request_with_its_request_id(
    served: tuple[str, Path],
) -> None:
    url, log = served
    answer = requests.post(url + "/predict", json={"features": SETOSA_ROW}, timeout=5)
    request_id = answer.headers["X-Request-ID"]
    deadline = time.monotonic() + 5
    line = None
    while line is None and time.monotonic() < deadline:
        for text in log.read_text().splitlines():
            if request_id in text:
                line = json.loads(text)
        time.sleep(0.05)
    assert line is not None, "no access log line for the request"
    assert line["request_id"] == request_id
    assert (line["method"], line["route"], line["status"]) == ("POST", "/predict", 200)
    assert line["model_version"] == answer.json()["model_version"]
    assert line["client"] == "127.0.0.1"


def test_gunicorn_is_still_a_working_choice(artifacts_dir: Path, tmp_path: Path) -> None:
    env = {"MLOPS_SERVER": "gunicorn"}
    with running_api(artifacts_dir, tmp_path / "log.db", extra_env=env) as url:
        answer = requests.post(url + "/predict", json={"features": SETOSA_ROW}, timeout=5)
        assert answer.json()["class_name"] == "setosa"
