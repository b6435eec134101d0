"""Triton's own clients, with their defaults, against `mlops serve` (HTTP and gRPC processes)."""

from __future__ import annotations

import sqlite3
import threading
import time
from collections.abc import Iterator
from pathlib import Path

import grpc
import numpy as np
import pytest
import requests
import tritonclient.grpc as triton_grpc
import tritonclient.http as triton_http
from tritonclient.utils import InferenceServerException

from tests.e2e.test_e2e import metric_totals, total
from tests.support.servers import free_port, running_api

pytestmark = pytest.mark.e2e

ROWS = np.array([[5.1, 3.5, 1.4, 0.2], [6.7, 3.0, 5.2, 2.3]])
HTTP_INFER = "/v2/models/<name>/infer"
GRPC_INFER = "/inference.GRPCInferenceService/ModelInfer"


def wait_for_grpc(client: triton_grpc.InferenceServerClient, timeout: float = 30) -> None:
    deadline = time.monotonic() + timeout
    while True:
        try:
            if client.is_server_ready():
                return
        except InferenceServerException:
            if time.monotonic() > deadline:
                raise
        time.sleep(0.1)


@pytest.fixture(scope="module")
def stack(
    artifacts_dir: Path, tmp_path_factory: pytest.TempPathFactory
) -> Iterator[tuple[str, str, Path]]:
    folder = tmp_path_factory.mktemp("oip")
    grpc_port = free_port()
    db_path = folder / "log.db"
    with running_api(
        artifacts_dir,
        db_path,
        extra_env={"MLOPS_GRPC_PORT": str(grpc_port)},
        log_path=folder / "server.log",
    ) as url:
        address = f"127.0.0.1:{grpc_port}"
        with triton_grpc.InferenceServerClient(address) as client:
            wait_for_grpc(client)
        yield url, address, db_path


def http_input(datatype: str) -> triton_http.InferInput:
    tensor = triton_http.InferInput("input", [2, 4], datatype)
    tensor.set_data_from_numpy(ROWS.astype(np.float32 if datatype == "FP32" else np.float64))
    return tensor


@pytest.mark.parametrize("datatype", ["FP32", "FP64"])
def test_tritonclient_http_defaults_send_and_get_binary_tensors(
    stack: tuple[str, str, Path], datatype: str
) -> None:
    url, _, _ = stack
    with triton_http.InferenceServerClient(url.removeprefix("http://")) as client:
        assert client.is_server_live()
        assert client.is_model_ready("iris")
        result = client.infer("iris", [http_input(datatype)])  # binary in, binary out
        assert result.as_numpy("label").tolist() == [0, 2]
        assert result.as_numpy("probabilities").shape == (2, 3)
        parameters = result.get_output("label")["parameters"]
        assert parameters == {"binary_data_size": 16}
        pinned = client.infer("iris", [http_input(datatype)], model_version="v2")
        assert pinned.get_response()["model_version"] == "v2"
        assert pinned.as_numpy("label").tolist() == [0, 2]
        with pytest.raises(InferenceServerException, match="no version 'v7'"):
            client.infer("iris", [http_input(datatype)], model_version="v7")


@pytest.mark.parametrize("datatype", ["FP32", "FP64"])
def test_tritonclient_grpc_defaults(stack: tuple[str, str, Path], datatype: str) -> None:
    _, address, _ = stack
    with triton_grpc.InferenceServerClient(address) as client:
        assert client.is_model_ready("iris")
        tensor = triton_grpc.InferInput("input", [2, 4], datatype)
        tensor.set_data_from_numpy(ROWS.astype(np.float32 if datatype == "FP32" else np.float64))
        result = client.infer("iris", [tensor])
        assert result.as_numpy("label").tolist() == [0, 2]
        assert result.get_response().model_version in {"v1", "v2"}
        pinned = client.infer("iris", [tensor], model_version="v1")
        assert pinned.get_response().model_version == "v1"


def test_both_protocols_are_logged_and_counted_in_one_metrics_view(
    stack: tuple[str, str, Path],
) -> None:
    url, address, db_path = stack
    before = metric_totals(url)
    rows_before = logged_requests(db_path)
    with (
        triton_http.InferenceServerClient(url.removeprefix("http://")) as http_client,
        triton_grpc.InferenceServerClient(address) as grpc_client,
    ):
        for _ in range(7):
            http_client.infer("iris", [http_input("FP64")])
        grpc_tensor = triton_grpc.InferInput("input", [2, 4], "FP64")
        grpc_tensor.set_data_from_numpy(ROWS)
        for _ in range(5):
            grpc_client.infer("iris", [grpc_tensor])
    after = metric_totals(url)

    def grew(name: str, **labels: str) -> float:
        return total(after, name, **labels) - total(before, name, **labels)

    assert grew("mlops_requests_total", endpoint=HTTP_INFER, status="200") == 7
    assert grew("mlops_requests_total", endpoint=GRPC_INFER, status="200") == 5
    # 12 requests of two rows each: every prediction counted once, whichever process answered.
    assert grew("mlops_predictions_total") == 24
    assert logged_requests(db_path) - rows_before == 12  # one log row per request


def logged_requests(db_path: Path) -> int:
    with sqlite3.connect(db_path) as connection:
        return int(connection.execute("SELECT COUNT(*) FROM predictions").fetchone()[0])


def test_sigterm_stops_grpc_gracefully_and_every_answer_is_logged(
    artifacts_dir: Path, tmp_path: Path
) -> None:
    grpc_port = free_port()
    db_path = tmp_path / "log.db"
    answered = 0
    stop = threading.Event()
    statuses: set[grpc.StatusCode] = set()
    log_path = tmp_path / "server.log"
    with running_api(
        artifacts_dir,
        db_path,
        workers=1,
        extra_env={"MLOPS_GRPC_PORT": str(grpc_port)},
        log_path=log_path,
    ):
        client = triton_grpc.InferenceServerClient(f"127.0.0.1:{grpc_port}")
        wait_for_grpc(client)
        tensor = triton_grpc.InferInput("input", [2, 4], "FP64")
        tensor.set_data_from_numpy(ROWS)

        def load() -> None:
            nonlocal answered
            while not stop.is_set():
                try:
                    client.infer("iris", [tensor], client_timeout=5)
                    answered += 1
                except InferenceServerException as error:
                    statuses.add(error.status())
                    return

        thread = threading.Thread(target=load)
        thread.start()
        time.sleep(1.0)
        # A loaded machine may answer fewer in a second: the server is stopped under the load
        # once more than 20 calls are answered.
        deadline = time.monotonic() + 30
        while answered <= 20 and thread.is_alive() and time.monotonic() < deadline:
            time.sleep(0.05)
    # Leaving the block sent SIGTERM and waited for `mlops serve` to exit.
    stop.set()
    thread.join(timeout=10)
    client.close()
    assert answered > 20
    logged = logged_requests(db_path)
    # Each call is logged before it answers; one cut by the shutdown may be logged unanswered.
    assert answered <= logged <= answered + 1
    assert "Traceback" not in log_path.read_text()


def test_smoke_checks_grpc(stack: tuple[str, str, Path]) -> None:
    from mlops_pipeline.cli.smoke import run_grpc_smoke

    _, address, _ = stack
    assert run_grpc_smoke(address) == []
    assert run_grpc_smoke(f"127.0.0.1:{free_port()}", timeout=1.0) != []


def test_http_still_answers_plain_json(stack: tuple[str, str, Path]) -> None:
    url, _, _ = stack
    body = {
        "inputs": [{"name": "input", "datatype": "FP64", "shape": [1, 4], "data": ROWS[0].tolist()}]
    }
    response = requests.post(url + "/v2/models/iris/infer", json=body, timeout=5)
    assert response.headers["Content-Type"] == "application/json"
    assert response.json()["outputs"][0]["data"] == [0]
