"""The smaller trust findings: each refused as the client's mistake (4xx), bounded or logged.

Real parts throughout: the Flask app behind a real HTTP server on a free port, the monitor's
HTTP port, the gRPC server, SQLite files, the CLI in process.
"""

from __future__ import annotations

import json
import socket
import threading
import time
from collections.abc import Iterator
from pathlib import Path

import grpc
import pytest
import requests
import yaml
from flask import Flask
from prometheus_client import CollectorRegistry
from tritonclient.grpc import service_pb2 as wire
from werkzeug.serving import make_server

from mlops_pipeline.cli.main import main
from mlops_pipeline.config import Settings
from mlops_pipeline.credentials import token_problems
from mlops_pipeline.delivery.registration import RegistrationRefused, register_folder
from mlops_pipeline.monitoring.alert_webhook import DriftWebhook
from mlops_pipeline.monitoring.leader import status_server
from mlops_pipeline.protocol.access_log import AccessLog
from mlops_pipeline.rpc.server import grpc_server
from mlops_pipeline.rpc.service import SERVICE, InferenceServicer
from mlops_pipeline.serving.service import PredictionService
from mlops_pipeline.storage import Storage
from tests.support.helpers import ADMIN, ADMIN_TOKEN, FEEDBACK

HUGE = "9" * 4301  # int() refuses more than 4,300 digits with a ValueError
WEBHOOK_TOKEN = "webhook-token-0123456789"
BAD_NAMES = ["v10\n", "../x", "v1;drop table models", "v\u202e1", 'v\nfake_line{x="1"} 1', ""]
ROOT = Path(__file__).resolve().parents[2]


@pytest.fixture
def api(app: Flask) -> Iterator[str]:
    """The app behind werkzeug's threaded HTTP server on a free port."""
    server = make_server("127.0.0.1", 0, app, threaded=True)
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    yield f"http://127.0.0.1:{server.server_port}"
    server.shutdown()
    thread.join(5)


def events(lines: list[bytes], name: str) -> list[dict[str, object]]:
    records = [json.loads(line) for line in lines]
    return [record for record in records if record.get("event") == name]


def raw_request(port: int, request: bytes, timeout: float = 5) -> bytes:
    """Send ``request`` as is and read the whole answer (the servers close after it)."""
    with socket.create_connection(("127.0.0.1", port), timeout=timeout) as sock:
        sock.sendall(request)
        chunks = []
        while chunk := sock.recv(65536):
            chunks.append(chunk)
    return b"".join(chunks)


# 1. A limit of 4,301 digits, and such a Content-Length, are 400s.


@pytest.mark.parametrize("path", ["/rollouts", "/retrains", "/predictions", "/config/history"])
def test_a_huge_limit_is_a_400(api: str, path: str) -> None:
    answer = requests.get(f"{api}{path}", params={"limit": HUGE}, headers=ADMIN, timeout=10)
    assert (answer.status_code, answer.json()["code"]) == (400, "invalid_parameter")
    assert len(answer.json()["error"]) < 200  # the 4,301 digits are not echoed back


def test_a_huge_content_length_is_a_400_on_the_monitor(storage: Storage) -> None:
    hook = DriftWebhook(storage.retrains, "register", WEBHOOK_TOKEN, min_interval=0)
    server = status_server("127.0.0.1", 0, CollectorRegistry(), dict, post={"/alerts": hook})
    try:
        answer = raw_request(
            server.server_port,
            b"POST /alerts HTTP/1.1\r\nHost: x\r\nContent-Length: " + HUGE.encode()
            + f"\r\nAuthorization: Bearer {WEBHOOK_TOKEN}\r\n\r\n".encode(),
        )  # fmt: skip
    finally:
        server.shutdown()
        server.server_close()
    assert answer.startswith(b"HTTP/1.0 400")
    assert b'"code": "bad_request"' in answer
    assert b"Content-Length" in answer


# 2. One version-name rule, with no trailing newline, wherever a name enters.


def test_retrain_api_refuses_a_version_with_a_trailing_newline(api: str) -> None:
    for name in BAD_NAMES:
        answer = requests.post(f"{api}/retrains", json={"version": name}, headers=ADMIN, timeout=10)
        assert (answer.status_code, answer.json()["code"]) == (400, "invalid_retrain"), name
    assert requests.get(f"{api}/retrains", timeout=10).json()["retrains"] == []


def test_models_cli_refuses_unsafe_version_names(
    cli_env: Settings, v3_candidate: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    for name in BAD_NAMES:
        assert main(["models", "register", str(v3_candidate), "--version", name]) == 2
        assert "a version name must be" in capsys.readouterr().err, name
        assert main(["models", "retire", name]) == 2
        assert "a version name must be" in capsys.readouterr().err, name
    assert main(["models", "list"]) == 0
    assert "active" not in capsys.readouterr().out  # nothing was registered


def test_registration_refuses_unsafe_version_names(
    storage: Storage, v3_candidate: Path, artifacts_dir: Path
) -> None:
    for name in BAD_NAMES:
        with pytest.raises(RegistrationRefused, match="a version name must be"):
            register_folder(storage, v3_candidate, name, artifacts_dir, "alice", time.time())
    assert storage.models.catalog() == []


# 3. A wrong token on the public reads is refused and logged, not ignored.


@pytest.mark.parametrize("path", ["/rollouts", "/rollouts/current", "/retrains"])
def test_public_reads_refuse_and_log_a_wrong_token(
    api: str, access_lines: list[bytes], path: str
) -> None:
    public = requests.get(f"{api}{path}", timeout=10)
    assert public.status_code == (404 if path == "/rollouts/current" else 200)
    assert events(access_lines, "auth_failure") == []
    wrong = {"Authorization": "Bearer not-the-admin-token-at-all"}
    for headers in (wrong, FEEDBACK):  # the feedback token does not grant the admin view
        answer = requests.get(f"{api}{path}", headers=headers, timeout=10)
        assert (answer.status_code, answer.json()["code"]) == (403, "forbidden")
    failures = events(access_lines, "auth_failure")
    assert [(f["path"], f["reason"]) for f in failures] == [(path, "invalid token")]
    assert [f["path"] for f in events(access_lines, "role_denied")] == [path]
    admin = requests.get(f"{api}{path}", headers=ADMIN, timeout=10)
    assert admin.status_code == public.status_code


# 4. The monitor's port: a total deadline per request, a bounded number of threads.


def test_monitor_cuts_a_trickling_client_at_the_request_deadline() -> None:
    server = status_server("127.0.0.1", 0, CollectorRegistry(), dict, deadline=1.5)
    sock = socket.create_connection(("127.0.0.1", server.server_port), timeout=5)
    started = time.monotonic()
    closed_after = None
    try:
        sock.sendall(b"GET /health HTTP/1.1\r\nX-Slow: ")
        # A byte every 0.2 s never trips the 10 s per-read timeout; only the deadline ends it.
        while time.monotonic() - started < 8:
            try:
                sock.sendall(b"a")
            except OSError:
                closed_after = time.monotonic() - started
                break
            sock.settimeout(0.2)
            try:
                if sock.recv(100) == b"":
                    closed_after = time.monotonic() - started
                    break
            except TimeoutError:
                pass
            except OSError:
                closed_after = time.monotonic() - started
                break
    finally:
        sock.close()
        server.shutdown()
        server.server_close()
    assert closed_after is not None, "the trickling client was never cut off"
    assert 1.3 < closed_after < 4


def test_monitor_bounds_its_threads_under_many_slow_connections() -> None:
    server = status_server("127.0.0.1", 0, CollectorRegistry(), dict, max_connections=4)
    port = server.server_port
    before = threading.active_count()
    sockets = []
    try:
        for _ in range(60):
            sock = socket.create_connection(("127.0.0.1", port), timeout=5)
            sock.sendall(b"GET /health HTTP/1.1\r\nX-Slow: a")  # never finished
            sockets.append(sock)
        time.sleep(0.5)
        assert threading.active_count() - before <= 4
        # Beyond the cap: an answer (503) and a close at once, not a thread that waits.
        refused = raw_request(port, b"GET /health HTTP/1.0\r\n\r\n")
        assert refused.startswith(b"HTTP/1.0 503")
        assert b'"code": "overload"' in refused
    finally:
        for sock in sockets:
            sock.close()
    # The slots come back once the slow clients are gone.
    deadline = time.monotonic() + 5
    while time.monotonic() < deadline:
        try:
            answer = requests.get(f"http://127.0.0.1:{port}/health", timeout=2)
        except requests.ConnectionError:
            answer = None
        if answer is not None and answer.status_code == 200:
            break
        time.sleep(0.1)
    server.shutdown()
    server.server_close()
    assert answer is not None
    assert answer.status_code == 200


# 5. Deeply nested JSON to the monitor's POST /alerts is a 400.


def test_deeply_nested_alert_body_is_a_400(storage: Storage) -> None:
    hook = DriftWebhook(storage.retrains, "register", WEBHOOK_TOKEN, min_interval=0)
    server = status_server("127.0.0.1", 0, CollectorRegistry(), dict, post={"/alerts": hook})
    try:
        answer = requests.post(
            f"http://127.0.0.1:{server.server_port}/alerts",
            data=b"[" * 100_000 + b"]" * 100_000,
            headers={"Authorization": f"Bearer {WEBHOOK_TOKEN}"},
            timeout=10,
        )
    finally:
        server.shutdown()
        server.server_close()
    assert (answer.status_code, answer.json()["code"]) == (400, "invalid_json")


# 6. Tokens of whitespace or unprintable characters do not pass the start-up check.


@pytest.mark.parametrize(
    "token",
    [" " * 32, "\t" * 20, "abc" + " " * 30, "\x00" * 16, "a\u200bb" * 6, "x" * 16 + "\x07",
     " " + "k" * 20, "k" * 20 + " "],
)  # fmt: skip
def test_whitespace_or_unprintable_tokens_are_refused(token: str, tmp_path: Path) -> None:
    settings = Settings(db_path=tmp_path / "db", admin_token=token)
    (problem,) = token_problems(settings)
    assert problem.startswith("MLOPS_ADMIN_TOKEN ")


@pytest.mark.parametrize("field", ["feedback_token", "retrain_webhook_token"])
@pytest.mark.parametrize("token", [" " * 32, "abc" + " " * 30, "x" * 16 + "\x07"])
def test_every_token_setting_refuses_whitespace_or_unprintable_tokens(
    field: str, token: str, tmp_path: Path
) -> None:
    settings = Settings(db_path=tmp_path / "db", **{field: token})  # type: ignore[arg-type]
    (problem,) = token_problems(settings)
    assert problem.startswith(f"MLOPS_{field.upper()} ")


@pytest.mark.parametrize(
    "key", ["k" * 6 + " " * 12 + "k" * 6, "k" * 16 + "\x07", "a\u200bb" * 6, "k\tk" * 8]
)
def test_prediction_keys_of_whitespace_or_unprintable_characters_are_refused(
    key: str, tmp_path: Path
) -> None:
    settings = Settings(db_path=tmp_path / "db", predict_tokens=f"web:{key}")
    (problem,) = token_problems(settings)
    assert problem.startswith("the MLOPS_PREDICT_TOKENS key 'web' ")


def test_good_tokens_still_pass(tmp_path: Path) -> None:
    settings = Settings(db_path=tmp_path / "db", admin_token=ADMIN_TOKEN)
    assert token_problems(settings) == []


# 7 and 8. gRPC: undecodable calls are logged; echoed names are bounded.


@pytest.fixture
def grpc_channel(
    settings: Settings, service: PredictionService, access_lines: list[bytes]
) -> Iterator[grpc.Channel]:
    servicer = InferenceServicer(
        service,
        service.metrics,
        settings.model_name,
        settings.max_batch_rows,
        AccessLog(write=access_lines.append),
    )
    server, port = grpc_server(servicer, "127.0.0.1", 0, 4 * 1024 * 1024)
    server.start()
    with grpc.insecure_channel(f"127.0.0.1:{port}") as channel:
        yield channel
    server.stop(None)


def test_undecodable_grpc_calls_are_logged(
    grpc_channel: grpc.Channel, access_lines: list[bytes]
) -> None:
    method = grpc_channel.unary_unary(f"/{SERVICE}/ModelInfer")  # bytes in, bytes out
    with pytest.raises(grpc.RpcError) as refused:
        method(b"\xff\xff\xff\xff", timeout=10)
    assert refused.value.code() == grpc.StatusCode.INVALID_ARGUMENT
    (line,) = events(access_lines, "request")
    assert (line["route"], line["status"]) == (f"/{SERVICE}/ModelInfer", 400)
    assert line["request_id"]


@pytest.mark.parametrize("field", ["name", "version"])
def test_a_megabyte_name_in_grpc_is_still_not_found(
    grpc_channel: grpc.Channel, settings: Settings, field: str
) -> None:
    method = grpc_channel.unary_unary(
        f"/{SERVICE}/ModelReady",
        request_serializer=lambda message: message.SerializeToString(),
        response_deserializer=wire.ModelReadyResponse.FromString,
    )
    names = {"name": settings.model_name, field: "\u00e9" * 1_000_000}
    with pytest.raises(grpc.RpcError) as refused:
        method(wire.ModelReadyRequest(**names), timeout=10)
    assert refused.value.code() == grpc.StatusCode.NOT_FOUND
    assert len(refused.value.details()) < 200


# 9. The README says what compose gives the UI: the feedback token only.


def test_readme_says_the_ui_has_only_the_feedback_token() -> None:
    compose = yaml.safe_load((ROOT / "docker-compose.yml").read_text())
    ui_env = compose["services"]["ui"]["environment"]
    assert "MLOPS_FEEDBACK_TOKEN" in ui_env
    assert "MLOPS_ADMIN_TOKEN" not in ui_env
    readme = " ".join((ROOT / "README.md").read_text().split())
    assert "acts with both tokens" not in readme
    assert "The UI has no login and holds only the feedback token" in readme
