"""Model answers are checked, runs are time-boxed, candidates are vetted: crafted ONNX graphs.

Each crafted graph is valid ONNX that ONNX Runtime runs; what it answers is wrong in one way.
"""

from __future__ import annotations

import json
import time
from pathlib import Path

import numpy as np
import pytest
import tritonclient.grpc as triton
from flask.testing import FlaskClient
from prometheus_client import CollectorRegistry
from tritonclient.utils import InferenceServerException

from mlops_pipeline.artifacts import write_manifest
from mlops_pipeline.bootstrap import Components
from mlops_pipeline.cli.main import main
from mlops_pipeline.config import Settings
from mlops_pipeline.errors import InferenceTimeout, InvalidModelAnswer, ModelFailure
from mlops_pipeline.protocol.access_log import AccessLog
from mlops_pipeline.rpc.server import grpc_server
from mlops_pipeline.rpc.service import InferenceServicer
from mlops_pipeline.serving.inference import AnswerProblem, OnnxPredictor, check_answer
from tests.support.crafted_onnx import (
    allocating_from_input,
    answering,
    candidate_with,
    one_answer_whatever_the_rows,
    slow_when_large,
)
from tests.support.helpers import ADMIN, SETOSA_ROW, sample

WRONG_ANSWERS = {
    "wrong_batch_shape": (one_answer_whatever_the_rows, "shape", "labels of shape [1] for 3"),
    "label_5": (lambda: answering(5, [0.2, 0.3, 0.5]), "label", "label 5 is not a class index"),
    "label_minus_1": (lambda: answering(-1, [0.2, 0.3, 0.5]), "label", "label -1 is not"),
    "sum_not_1": (lambda: answering(0, [0.5, 0.5, 0.5]), "probabilities", "sum to 1.5"),
    "nan": (lambda: answering(0, [float("nan"), 0.5, 0.5]), "probabilities", "not finite"),
}
ROWS = np.array([SETOSA_ROW, [6.0, 2.9, 4.5, 1.5], [6.9, 3.1, 5.4, 2.1]])


# --- the pure check -------------------------------------------------------------------------


def test_a_valid_answer_passes_unchanged() -> None:
    labels, probabilities = check_answer(
        [np.array([2, 0]), np.array([[0.1, 0.2, 0.7], [1.0, 0.0, 0.0]], dtype=np.float32)], 2, 3
    )
    assert labels.tolist() == [2, 0]
    assert probabilities.dtype == np.float64


@pytest.mark.parametrize(
    ("outputs", "reason"),
    [
        ([np.array([0])], "outputs"),
        ([np.array([0, 0]), np.ones((2, 3)) / 3], "shape"),
        ([np.array([0]), np.ones((1, 4)) / 4], "shape"),
        ([np.array(["setosa"]), np.ones((1, 3)) / 3], "label"),
        ([np.array([3]), np.ones((1, 3)) / 3], "label"),
        ([np.array([0]), np.array([[1.5, -0.25, -0.25]])], "probabilities"),
        ([np.array([0]), np.array([[np.inf, 0, 0]])], "probabilities"),
    ],
)
@pytest.mark.parametrize("rows", [1, 40])  # checked as Python numbers / as numpy arrays
def test_every_kind_of_wrong_answer_is_named(
    outputs: list[np.ndarray], reason: str, rows: int
) -> None:
    batch, answered_rows = outputs, 1
    if reason not in ("outputs", "shape"):  # the wrong row last: the check looks at every row
        valid = [np.zeros(rows - 1, dtype=np.int64), np.tile([[0.2, 0.3, 0.5]], (rows - 1, 1))]
        batch = [np.concatenate([good, bad]) for good, bad in zip(valid, outputs, strict=True)]
        answered_rows = rows
    with pytest.raises(AnswerProblem) as caught:
        check_answer(batch, answered_rows, 3)
    assert caught.value.reason == reason


# --- the predictor --------------------------------------------------------------------------


@pytest.mark.parametrize("case", sorted(WRONG_ANSWERS))
def test_the_predictor_refuses_wrong_answers_naming_its_version(case: str) -> None:
    build, reason, words = WRONG_ANSWERS[case]
    with pytest.raises(InvalidModelAnswer) as caught:
        OnnxPredictor("bad", build()).predict(ROWS, 3)
    assert (caught.value.reason, caught.value.status) == (reason, 502)
    assert caught.value.message.startswith("model version bad: ")
    assert words in caught.value.message


def test_a_run_past_its_budget_is_stopped() -> None:
    predictor = OnnxPredictor("slow", slow_when_large())
    assert predictor.predict(ROWS, 3, timeout_ms=200)[0].tolist() == [0, 0, 0]
    started = time.monotonic()
    with pytest.raises(InferenceTimeout) as caught:
        predictor.predict(np.full((1, 4), 1e12), 3, timeout_ms=200)
    elapsed = time.monotonic() - started
    assert 0.2 <= elapsed < 1.0, elapsed  # unbounded, this run takes hours
    assert (caught.value.status, caught.value.code) == (504, "inference_timeout")
    assert "model version slow: stopped after the 200 ms" in caught.value.message


def test_a_graph_that_fails_on_a_huge_value_is_a_clean_model_failure() -> None:
    predictor = OnnxPredictor("bomb", allocating_from_input())
    assert predictor.predict(ROWS, 3)[0].tolist() == [0, 0, 0]
    with pytest.raises(ModelFailure) as caught:
        predictor.predict(np.array([[1e300, 1.0, 1.0, 1.0]]), 3)
    assert (caught.value.status, caught.value.code) == (502, "inference_failed")
    assert caught.value.message.startswith("model version bomb: ")


# --- registration ---------------------------------------------------------------------------


def register(folder: Path, capsys: pytest.CaptureFixture[str]) -> tuple[int, str]:
    code = main(["models", "register", str(folder), "--version", "v3"])
    captured = capsys.readouterr()
    return code, captured.err + captured.out


@pytest.mark.parametrize("case", sorted(WRONG_ANSWERS))
def test_registration_refuses_wrong_answers_on_training_batches(
    case: str,
    cli_env: Settings,
    v3_candidate: Path,
    tmp_path: Path,
    capsys: pytest.CaptureFixture[str],
) -> None:
    build, _reason, words = WRONG_ANSWERS[case]
    words = words.replace("for 3", "for 7")  # the batch of 7 training rows catches it
    folder = candidate_with(v3_candidate, tmp_path / "crafted", build())
    code, output = register(folder, capsys)
    assert code == 2
    assert "refusing to register" in output
    assert "model version v3" in output
    assert words in output


def test_a_crafted_but_valid_model_registers(
    cli_env: Settings, v3_candidate: Path, tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    folder = candidate_with(v3_candidate, tmp_path / "crafted", answering(2, [0.1, 0.2, 0.7]))
    code, output = register(folder, capsys)
    assert code == 0, output  # the checks refuse what is wrong, not what is unusual
    assert output.startswith("registered v3")


@pytest.mark.parametrize(
    ("build", "operator"),
    [(slow_when_large, "ai.onnx:Loop"), (allocating_from_input, "ai.onnx:ConstantOfShape")],
)
def test_registration_refuses_operators_outside_the_allow_list(
    build: object,
    operator: str,
    cli_env: Settings,
    v3_candidate: Path,
    tmp_path: Path,
    capsys: pytest.CaptureFixture[str],
) -> None:
    assert callable(build)
    folder = candidate_with(v3_candidate, tmp_path / "crafted", build())
    code, output = register(folder, capsys)
    assert code == 2
    assert "outside the allow-list" in output
    assert operator in output


def test_an_operator_can_extend_the_allow_list(
    cli_env: Settings,
    v3_candidate: Path,
    tmp_path: Path,
    capsys: pytest.CaptureFixture[str],
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    folder = candidate_with(v3_candidate, tmp_path / "crafted", answering(0, [1, 0, 0], "Relu"))
    code, output = register(folder, capsys)
    assert (code, "['ai.onnx:Relu']" in output) == (2, True)
    monkeypatch.setenv("MLOPS_MODEL_EXTRA_OPS", "Relu, ai.onnx.ml:SVMClassifier")
    assert register(folder, capsys)[0] == 0


def test_registration_caps_the_model_and_its_metadata(
    cli_env: Settings,
    v3_candidate: Path,
    tmp_path: Path,
    capsys: pytest.CaptureFixture[str],
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    bloated = candidate_with(v3_candidate, tmp_path / "bloated", notes="x" * 70_000)
    code, output = register(bloated, capsys)
    assert code == 2
    assert "metadata.json has 7" in output
    assert "MLOPS_MODEL_METADATA_MAX_BYTES" in output
    size = (v3_candidate / "v3" / "model.onnx").stat().st_size
    monkeypatch.setenv("MLOPS_MODEL_MAX_BYTES", str(size - 1))
    code, output = register(v3_candidate, capsys)
    assert code == 2
    assert f"model.onnx has {size} bytes; at most {size - 1}" in output


def test_a_refusal_for_changed_bytes_names_both_hashes(
    cli_env: Settings, v3_candidate: Path, tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    declared = "ab" * 32
    folder = candidate_with(v3_candidate, tmp_path / "changed")
    meta_path = folder / "v3" / "metadata.json"
    meta = json.loads(meta_path.read_text())
    actual = meta["files"]["model.onnx"]
    meta["files"]["model.onnx"] = declared
    meta_path.write_text(json.dumps(meta))
    manifest = json.loads((folder / "manifest.json").read_text())
    write_manifest(folder, manifest["versions"], manifest["default_weights"])
    code, output = register(folder, capsys)
    assert code == 2
    assert f"SHA-256 {actual[:12]}" in output
    assert declared[:12] in output  # it used to compare the bytes' hash with itself


# --- serving --------------------------------------------------------------------------------


def serve_crafted(components: Components, client: FlaskClient, onnx_bytes: bytes) -> None:
    """Serve a crafted version with all the routed traffic (as if loaded before these checks)."""
    components.service.add_version("bad", OnnxPredictor("bad", onnx_bytes), {"algorithm": "x"})
    weights = {"v1": 0, "v2": 0, "bad": 1}
    assert client.put("/config/weights", json=weights, headers=ADMIN).status_code == 200


@pytest.mark.parametrize("case", sorted(WRONG_ANSWERS))
def test_a_served_wrong_answer_is_a_502_naming_the_version_and_nothing_is_logged(
    case: str, components: Components, client: FlaskClient, registry: CollectorRegistry
) -> None:
    build, reason, words = WRONG_ANSWERS[case]
    serve_crafted(components, client, build())
    storage = components.storage
    assert storage is not None
    logged = storage.predictions.count_requests()
    response = client.post("/predict", json={"instances": ROWS.tolist()})
    assert response.status_code == 502
    body = response.get_json()
    assert body["code"] == "invalid_model_answer"
    assert body["error"].startswith("model version bad: invalid answer refused: ")
    assert words in body["error"]
    assert storage.predictions.count_requests() == logged
    failures = storage.failures.by_epoch(0)
    assert sum(n for (_, version), n in failures.items() if version == "bad") == 1
    labels = {"model_version": "bad", "reason": reason}
    assert sample(registry, "mlops_model_failures_total", **labels) == 1
    assert sample(registry, "mlops_errors_total", code="invalid_model_answer") == 1


def test_a_served_slow_graph_is_stopped_at_the_budget(
    components: Components, client: FlaskClient, registry: CollectorRegistry
) -> None:
    serve_crafted(components, client, slow_when_large())
    started = time.monotonic()
    response = client.post("/predict", json={"features": [1e12, 1, 1, 1]})
    elapsed = time.monotonic() - started
    assert response.status_code == 504
    assert response.get_json()["code"] == "inference_timeout"
    assert "model version bad: stopped after the 2000 ms" in response.get_json()["error"]
    assert 2.0 <= elapsed < 3.0, elapsed
    labels = {"model_version": "bad", "reason": "timeout"}
    assert sample(registry, "mlops_model_failures_total", **labels) == 1
    assert client.post("/predict", json={"features": SETOSA_ROW}).status_code == 200


def test_a_served_graph_failing_on_a_huge_value_is_a_502_not_a_500(
    components: Components, client: FlaskClient, registry: CollectorRegistry
) -> None:
    serve_crafted(components, client, allocating_from_input())
    response = client.post("/predict", json={"features": [1e300, 1, 1, 1]})
    assert response.status_code == 502
    assert response.get_json()["code"] == "inference_failed"
    assert response.get_json()["error"].startswith("model version bad: ")
    labels = {"model_version": "bad", "reason": "error"}
    assert sample(registry, "mlops_model_failures_total", **labels) == 1


@pytest.mark.parametrize(
    ("build", "status"),
    [(lambda: answering(5, [0.2, 0.3, 0.5]), "INTERNAL"), (slow_when_large, "DEADLINE_EXCEEDED")],
)
def test_grpc_answers_a_model_failure_with_its_status_and_the_version(
    build: object, status: str, settings: Settings, components: Components
) -> None:
    assert callable(build)
    service = components.service
    service.add_version("bad", OnnxPredictor("bad", build()), {"algorithm": "x"})
    service.router.set_weights({"v1": 0, "v2": 0, "bad": 1})
    servicer = InferenceServicer(
        service, service.metrics, "iris", settings.max_batch_rows, AccessLog(enabled=False)
    )
    server, port = grpc_server(servicer, "127.0.0.1", 0, settings.max_body_bytes)
    server.start()
    client = triton.InferenceServerClient(f"127.0.0.1:{port}")
    try:
        tensor = triton.InferInput("input", [1, 4], "FP64")
        tensor.set_data_from_numpy(np.array([[1e12, 1.0, 1.0, 1.0]]))
        with pytest.raises(InferenceServerException) as caught:
            client.infer("iris", [tensor])
    finally:
        client.close()
        server.stop(None)
    assert caught.value.status() == f"StatusCode.{status}"
    assert "model version bad: " in str(caught.value.message())


def test_a_candidate_whose_answers_are_refused_is_rolled_back(
    components: Components, client: FlaskClient
) -> None:
    """Refusals feed the rollout's error-rate guardrail: a wrong model is taken out of traffic."""
    components.service.add_version("bad", OnnxPredictor("bad", answering(5, [0.2, 0.3, 0.5])), {})
    assert components.experiment is not None
    components.experiment.set_versions(components.service.versions)  # as model sync does
    plan = {
        "candidate": "bad",
        "baseline": "v1",
        "steps": [0.25, 1.0],
        "guardrails": {"max_error_rate": 0.05},
    }
    started = client.post("/rollouts", json=plan, headers=ADMIN)
    assert started.status_code == 201, started.get_json()
    components.experiment.sync_weights()
    answers = [
        client.post("/predict", json={"features": SETOSA_ROW, "user_id": f"u{index}"})
        for index in range(80)
    ]
    refused = [answer for answer in answers if answer.status_code == 502]
    assert 5 <= len(refused) < 80  # about a quarter went to the candidate, and were refused
    assert all(answer.get_json()["code"] == "invalid_model_answer" for answer in refused)
    assert {answer.status_code for answer in answers} == {200, 502}
    decision = components.rollouts.tick()
    assert decision is not None
    assert decision["action"] == "rolled_back", decision
    assert "error rate 100.00%" in decision["reason"]
    components.experiment.sync_weights()
    assert components.service.router.weights.get("bad", 0) == 0
