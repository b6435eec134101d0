"""Anonymous traffic must not steer deployments: the three attacks of the issue reproduced and
shown harmless, the prediction keys, the client identity per logged row, and weight-0 pins."""

from __future__ import annotations

import random
import sqlite3
from collections.abc import Iterator
from typing import Any

import grpc
import numpy as np
import pytest
from flask import Flask
from flask.testing import FlaskClient
from prometheus_client import CollectorRegistry
from pydantic import SecretStr
from tritonclient.grpc import service_pb2 as wire

from mlops_pipeline.api import create_app
from mlops_pipeline.bootstrap import Components, build_components
from mlops_pipeline.config import Settings, database_url
from mlops_pipeline.credentials import client_keys, token_problems
from mlops_pipeline.monitoring.drift_monitor import bounded_window
from mlops_pipeline.monitoring.metrics import Metrics
from mlops_pipeline.protocol.access_log import AccessLog
from mlops_pipeline.protocol.clients import (
    MAX_CLIENT_ID_LENGTH,
    ClientKeys,
    anonymous_identity,
    newest_per_client,
)
from mlops_pipeline.rpc.server import grpc_server
from mlops_pipeline.rpc.service import InferenceServicer
from mlops_pipeline.storage import Storage
from mlops_pipeline.storage.schema import upgrade
from tests.support.helpers import ADMIN, ADMIN_TOKEN, FEEDBACK, SETOSA_ROW
from tests.unit.test_storage_contract import batch

WEB_TOKEN = "web-client-token-0123456789"
ATTACK_ROW = [51, 35, 14, 2]  # Iris in millimetres: far out of the training range
INFER_BODY = {
    "inputs": [{"name": "input", "shape": [1, 4], "datatype": "FP64", "data": SETOSA_ROW}]
}


@pytest.fixture
def make_app(settings: Settings, access_lines: list[bytes]) -> Iterator[Any]:
    """An app (and its components) on the fixture's database with some settings changed."""
    built: list[Components] = []

    def make(**changes: Any) -> tuple[Flask, Components]:
        changed = settings.model_copy(update=changes)
        upgrade(database_url(changed))
        components = build_components(changed, Metrics(CollectorRegistry()), random.Random(3))
        built.append(components)
        app = create_app(
            changed,
            components,
            CollectorRegistry(),
            access_log=AccessLog(write=access_lines.append),
        )
        return app, components

    yield make
    for components in built:
        components.close()


def logged_clients(settings: Settings) -> list[str | None]:
    with sqlite3.connect(settings.db_path) as db:
        return [row[0] for row in db.execute("SELECT client_id FROM predictions ORDER BY id")]


# --- pure functions, worked by hand -------------------------------------------------------------


def test_newest_per_client_keeps_each_clients_newest_items() -> None:
    # Oldest to newest: a a b a a c a; cap 2 keeps a's two newest (6, 4), b (2), c (5).
    clients = ["a", "a", "b", "a", "a", "c", "a"]
    assert newest_per_client(clients, 10, 2) == [2, 4, 5, 6]
    # The window fills from the newest: size 3 stops after 6, 5, 4.
    assert newest_per_client(clients, 3, 2) == [4, 5, 6]
    # Unrecorded clients (None) are each their own client.
    assert newest_per_client([None, None, "a", "a"], 10, 1) == [0, 1, 3]


def test_bounded_window_caps_a_share_of_the_window() -> None:
    clients = [f"user{i}" for i in range(6)] + ["attacker"] * 100
    # Cap ceil(0.2 * 10) = 2 rows a client: the attacker's newest two, then the six users; the
    # window stays short of 10, since no one else sent more.
    kept = bounded_window(clients, 10, 0.2)
    assert kept.tolist() == [0, 1, 2, 3, 4, 5, 104, 105]
    assert bounded_window(clients, 10, 1.0).tolist() == list(range(96, 106))


def test_anonymous_identity_is_bounded_and_never_the_address() -> None:
    assert anonymous_identity("alice", "10.0.0.1") == "anonymous:user:alice"
    long_id = anonymous_identity("x" * 128, None)
    assert long_id.startswith("anonymous:user#")
    assert len(long_id) <= MAX_CLIENT_ID_LENGTH
    by_address = anonymous_identity(None, "10.0.0.1")
    assert by_address.startswith("anonymous:addr:")
    assert "10.0.0.1" not in by_address
    assert len(by_address) <= MAX_CLIENT_ID_LENGTH
    assert anonymous_identity(None, "10.0.0.1") == by_address != anonymous_identity(None, "::1")


def test_prediction_keys_parse_and_short_ones_are_refused() -> None:
    parsed = Settings(predict_tokens=f"web:{WEB_TOKEN}, nightly:{WEB_TOKEN}x").predict_tokens
    assert parsed is not None
    assert client_keys(parsed) == {"web": WEB_TOKEN, "nightly": WEB_TOKEN + "x"}
    assert Settings(predict_tokens="").predict_tokens is None  # empty: anonymous, as before
    with pytest.raises(ValueError, match="entry 2 is not 'name:token'"):
        Settings(predict_tokens=f"web:{WEB_TOKEN},oops")
    short = Settings(predict_tokens="web:short")
    assert any("'web' has 5 characters" in problem for problem in token_problems(short))


# --- attack 1: sticky 10,000-row batches do not roll a rollout back ----------------------------


PLAN = {
    "candidate": "v2",
    "baseline": "v1",
    "steps": [0.25, 1.0],
    "min_labels_per_step": 20,
    "guardrails": {"max_error_rate": 0.05, "max_p99_ms": 50, "max_accuracy_drop": 0.05},
}


def started_rollout(client: FlaskClient, components: Components) -> int:
    response = client.post("/rollouts", json=PLAN, headers=ADMIN)
    assert response.status_code == 201, response.get_json()
    components.experiment.sync_weights()  # type: ignore[union-attr]
    assert components.service.router.weights == {"v1": 0.75, "v2": 0.25}
    return int(components.service.router.version)


def sticky_user_for(components: Components, version: str) -> str:
    return next(
        user
        for user in (f"probe-{i}" for i in range(1000))
        if components.service.router.choose(user) == version
    )


def test_sticky_huge_batches_do_not_roll_back_by_latency(make_app: Any, settings: Settings) -> None:
    app, components = make_app()
    client = app.test_client()
    split = started_rollout(client, components)
    storage = components.storage
    assert storage is not None
    user = sticky_user_for(components, "v2")
    # A real sticky batch through the API: the router sends it to the candidate.
    rows = [SETOSA_ROW] * 400
    answer = client.post("/predict", json={"instances": rows, "user_id": user}).get_json()
    assert answer.get("model_version") == "v2", answer
    # The log as the issue saw it: the candidate answered 120 fast single rows for 40 users and
    # 200 concurrent 10,000-row batches of that one sticky user at 78 ms each.
    for index in range(120):
        storage.predictions.append(
            batch(f"one{index}", version="v2", latency_ms=2.0, weights_version=split,
                  user_id=f"u{index % 40}", client_id=f"anonymous:user:u{index % 40}")
        )  # fmt: skip
    for index in range(200):
        storage.predictions.append(
            batch(f"big{index}", rows=10_000, version="v2", latency_ms=78.2,
                  weights_version=split, user_id=user, client_id=f"anonymous:user:{user}")
        )  # fmt: skip
    decision = components.rollouts.tick()
    assert decision is not None
    assert decision["action"] != "rolled_back", decision["reason"]
    p99 = next(c for c in decision["checks"] if c["name"] == "p99_ms")
    assert p99["ok"]
    assert p99["value"] <= 2.0  # per row: 78.2 ms / 10,000 rows is 0.008 ms
    assert components.service.router.weights == {"v1": 0.75, "v2": 0.25}


def test_one_clients_slow_requests_are_capped_in_the_latency_sample(
    make_app: Any,
) -> None:
    app, components = make_app()
    client = app.test_client()
    split = started_rollout(client, components)
    storage = components.storage
    assert storage is not None
    for index in range(300):  # fast single rows from 60 users
        storage.predictions.append(
            batch(f"one{index}", version="v2", latency_ms=2.0, weights_version=split,
                  user_id=f"u{index % 60}", client_id=f"anonymous:user:u{index % 60}")
        )  # fmt: skip
    for index in range(2000):  # then one client's single rows, slow: it loads the server
        storage.predictions.append(
            batch(f"slow{index}", version="v2", latency_ms=90.0, weights_version=split,
                  client_id="anonymous:addr:attacker")
        )  # fmt: skip
    decision = components.rollouts.tick()
    assert decision is not None
    # 200 of the attacker's (10% of 2,000) with the 300 others: its p99 is its own, so the check
    # does not pass, but the evidence is no longer 2,000 of its requests alone.
    p99 = next(c for c in decision["checks"] if c["name"] == "p99_ms")
    assert p99["detail"] == "500 requests in this step"


# --- attack 2: one sticky user sent many times does not hold a rollout by sample ratio ---------


def test_one_sticky_user_sent_many_times_does_not_hold_by_sample_ratio(
    make_app: Any,
) -> None:
    app, components = make_app()
    client = app.test_client()
    started_rollout(client, components)
    user = sticky_user_for(components, "v2")
    for _ in range(114):
        answer = client.post("/predict", json={"features": SETOSA_ROW, "user_id": user})
        assert answer.get_json()["model_version"] == "v2"
    baseline_user = sticky_user_for(components, "v1")
    for _ in range(2):
        client.post("/predict", json={"features": SETOSA_ROW, "user_id": baseline_user})
    decision = components.rollouts.tick()
    assert decision is not None
    srm = next(c for c in decision["checks"] if c["name"] == "sample_ratio")
    assert srm["ok"], srm
    assert "sample_ratio" not in decision["reason"]
    assert srm["detail"] == "observed {'v2': 1, 'v1': 1}"  # users, not requests


def test_sample_ratio_still_fires_on_real_mismatch_of_users(storage: Storage) -> None:
    from mlops_pipeline.delivery.controller import Evidence, decide
    from mlops_pipeline.rollout_plan import plan_from_json

    log = storage.predictions
    for index in range(300):  # 300 distinct users all on v2 under a 25% split
        log.append(batch(f"r{index}", version="v2", weights_version=2, user_id=f"u{index}"))
    units = log.units_by_version(0, 2)
    assert units == {"v2": 300}
    plan = plan_from_json(PLAN)
    evidence = Evidence([], 2, {"v2": 0.25, "v1": 0.75}, step_units=units)
    decision = decide(plan, 0, 10.0, 0.25, evidence, random.Random(1))
    srm = next(c for c in decision.checks if c.name == "sample_ratio")
    assert not srm.ok


# --- attack 3: 100 identical anonymous requests do not raise drift -----------------------------


def test_identical_anonymous_requests_do_not_raise_drift(
    make_app: Any, iris_rows: list[list[float]]
) -> None:
    app, _ = make_app(drift_max_client_share=0.03)
    client = app.test_client()
    for _ in range(100):  # a quiet server: the attacker alone
        client.post("/predict", json={"features": ATTACK_ROW})
    quiet = client.get("/drift").get_json()
    assert (quiet["status"], quiet["window_size"]) == ("warming_up", 3)
    for index, row in enumerate(iris_rows[:120]):  # 40 users' ordinary traffic
        client.post("/predict", json={"features": row, "user_id": f"user{index % 40}"})
    for _ in range(100):
        client.post("/predict", json={"features": ATTACK_ROW})
    busy = client.get("/drift").get_json()
    assert busy["window_size"] == 100
    assert busy["status"] == "ok", busy["score"]


def test_one_clients_big_batches_do_not_hide_the_others_rows(
    make_app: Any, iris_rows: list[list[float]]
) -> None:
    """4,000 rows in eight batches fill more than the first read (3,334 rows at a 3% bound):
    the monitor reads further back until the other clients' rows fill the window."""
    app, _ = make_app(drift_max_client_share=0.03)
    client = app.test_client()
    for index, row in enumerate(iris_rows[:120]):
        client.post("/predict", json={"features": row, "user_id": f"user{index % 40}"})
    for _ in range(8):
        assert client.post("/predict", json={"instances": [ATTACK_ROW] * 500}).status_code == 200
    report = client.get("/drift").get_json()
    assert report["window_size"] == 100
    assert report["status"] == "ok", report["score"]


def test_without_the_bound_the_same_requests_raise_drift(
    make_app: Any, iris_rows: list[list[float]]
) -> None:
    """The attack is real: with one client allowed the whole window, it alarms."""
    app, _ = make_app(drift_max_client_share=1.0)
    client = app.test_client()
    for index, row in enumerate(iris_rows[:120]):
        client.post("/predict", json={"features": row, "user_id": f"user{index % 40}"})
    for _ in range(100):
        client.post("/predict", json={"features": ATTACK_ROW})
    assert client.get("/drift").get_json()["status"] == "drift"


# --- prediction keys and the client per logged row ---------------------------------------------


def test_prediction_keys_are_required_when_set(
    make_app: Any, settings: Settings, access_lines: list[bytes]
) -> None:
    app, _ = make_app(predict_tokens=SecretStr(f"web:{WEB_TOKEN}"))
    client = app.test_client()
    for headers in ({}, {"Authorization": "Bearer wrong-token-0123456789"}, FEEDBACK):
        for path, body in (("/predict", {"features": SETOSA_ROW}),
                           ("/v2/models/iris/infer", INFER_BODY)):  # fmt: skip
            response = client.post(path, json=body, headers=headers)
            assert response.status_code == 401, (path, headers)
            assert response.get_json()["code"] == "unauthorized"
    assert b'"event":"auth_failure","role":"predict"' in b"".join(access_lines)
    assert logged_clients(settings) == []  # nothing answered, nothing logged
    web = {"Authorization": f"Bearer {WEB_TOKEN}"}
    assert client.post("/predict", json={"features": SETOSA_ROW}, headers=web).status_code == 200
    assert client.post("/v2/models/iris/infer", json=INFER_BODY, headers=web).status_code == 200
    assert client.post("/predict", json={"features": SETOSA_ROW}, headers=ADMIN).status_code == 200
    assert logged_clients(settings) == ["web", "web", "admin"]
    assert WEB_TOKEN.encode() not in b"".join(access_lines)


def test_anonymous_rows_record_a_bounded_identity(make_app: Any, settings: Settings) -> None:
    app, _ = make_app()
    client = app.test_client()
    client.post("/predict", json={"features": SETOSA_ROW, "user_id": "alice"})
    client.post("/predict", json={"features": SETOSA_ROW})
    client.post("/v2/models/iris/infer", json=INFER_BODY)
    alice, by_address, v2 = logged_clients(settings)
    assert alice == "anonymous:user:alice"
    assert by_address == v2 == anonymous_identity(None, "127.0.0.1")


# --- pins of a version without traffic ---------------------------------------------------------


def test_pinning_a_weight_zero_version_needs_the_admin(make_app: Any) -> None:
    app, _ = make_app(ab_weights={"v1": 1.0, "v2": 0.0})
    client = app.test_client()
    refused = client.post("/v2/models/iris/versions/v2/infer", json=INFER_BODY)
    assert (refused.status_code, refused.get_json()["code"]) == (403, "pin_forbidden")
    feedback = client.post("/v2/models/iris/versions/v2/infer", json=INFER_BODY, headers=FEEDBACK)
    assert feedback.status_code == 403
    admin = client.post("/v2/models/iris/versions/v2/infer", json=INFER_BODY, headers=ADMIN)
    assert (admin.status_code, admin.get_json()["model_version"]) == (200, "v2")
    # A version with traffic stays open to anyone.
    assert client.post("/v2/models/iris/versions/v1/infer", json=INFER_BODY).status_code == 200


def test_anonymous_pins_may_be_allowed_by_a_setting(make_app: Any) -> None:
    app, _ = make_app(ab_weights={"v1": 1.0, "v2": 0.0}, allow_anonymous_pins=True)
    response = app.test_client().post("/v2/models/iris/versions/v2/infer", json=INFER_BODY)
    assert response.status_code == 200


@pytest.fixture
def grpc_channel(make_app: Any, settings: Settings) -> Iterator[grpc.Channel]:
    keys = SecretStr(f"web:{WEB_TOKEN}")
    _, components = make_app(ab_weights={"v1": 1.0, "v2": 0.0}, predict_tokens=keys)
    changed = settings.model_copy(
        update={"ab_weights": {"v1": 1.0, "v2": 0.0}, "predict_tokens": keys}
    )
    servicer = InferenceServicer(
        components.service,
        components.service.metrics,
        "iris",
        100,
        AccessLog(enabled=False),
        clients=ClientKeys.from_settings(changed),
    )
    server, port = grpc_server(servicer, "127.0.0.1", 0, settings.max_body_bytes)
    server.start()
    with grpc.insecure_channel(f"127.0.0.1:{port}") as channel:
        yield channel
    server.stop(None)


def grpc_infer(channel: grpc.Channel, version: str, token: str | None) -> grpc.StatusCode:
    request = wire.ModelInferRequest(model_name="iris", model_version=version)
    tensor = request.inputs.add(name="input", datatype="FP64", shape=[1, 4])
    tensor.contents.fp64_contents.extend(SETOSA_ROW)
    call = channel.unary_unary(
        "/inference.GRPCInferenceService/ModelInfer",
        request_serializer=wire.ModelInferRequest.SerializeToString,
        response_deserializer=wire.ModelInferResponse.FromString,
    )
    metadata = [] if token is None else [("authorization", f"Bearer {token}")]
    try:
        call(request, metadata=metadata, timeout=10)
    except grpc.RpcError as error:
        return error.code()
    return grpc.StatusCode.OK


def test_grpc_needs_a_key_and_the_admin_to_pin_a_weight_zero_version(
    grpc_channel: grpc.Channel, settings: Settings
) -> None:
    assert grpc_infer(grpc_channel, "", None) is grpc.StatusCode.UNAUTHENTICATED
    assert grpc_infer(grpc_channel, "", "wrong-token-0123456789") is grpc.StatusCode.UNAUTHENTICATED
    assert grpc_infer(grpc_channel, "", WEB_TOKEN) is grpc.StatusCode.OK
    assert grpc_infer(grpc_channel, "v1", WEB_TOKEN) is grpc.StatusCode.OK
    assert grpc_infer(grpc_channel, "v2", WEB_TOKEN) is grpc.StatusCode.PERMISSION_DENIED
    assert grpc_infer(grpc_channel, "v2", ADMIN_TOKEN) is grpc.StatusCode.OK
    assert logged_clients(settings) == ["web", "web", "admin"]


# --- the column on both backends ---------------------------------------------------------------


def test_client_id_is_stored_and_read_back(storage: Storage) -> None:
    log = storage.predictions
    log.append(batch("a", rows=2, client_id="web"))
    log.append(batch("b", user_id="u1"))  # no client recorded: NULL, as rows from before
    log.append(batch("c", version="v2", weights_version=4, latency_ms=30.0, rows=3,
                     client_id="anonymous:user:u1", user_id="u1"))  # fmt: skip
    log.append(batch("d", version="v2", weights_version=4, user_id="u1"))
    user = "anonymous:user:u1"
    assert log.newest_rows(10).clients == ["web", "web", None, user, user, user, None]
    assert log.units_by_version(0, 4) == {"v2": 1}
    assert log.epoch_latency_samples(0, "v2", 4, 10) == [
        (0.5, 1, None),
        (30.0, 3, "anonymous:user:u1"),
    ]
    assert np.isfinite(log.newest_rows(10).features).all()
