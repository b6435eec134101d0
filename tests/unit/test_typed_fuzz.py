"""Fuzzing typed ``/predict`` bodies (issue #22): arbitrary JSON values per column, columns left
out or added, nested junk, huge strings and numbers, in every body form, against the typed app
(penguins, the prediction log on). Every answer is a 200 or a 4xx JSON error with a code, never
a 5xx; every 200 is in the prediction log, one logged row per answered row."""

from __future__ import annotations

import json
from collections.abc import Iterator
from typing import Any

import pytest
from flask.testing import FlaskClient
from hypothesis import HealthCheck, event, given, settings
from hypothesis import strategies as st
from prometheus_client import CollectorRegistry

from mlops_pipeline.api import create_app
from mlops_pipeline.bootstrap import Components, build_components
from mlops_pipeline.config import database_url
from mlops_pipeline.monitoring.metrics import Metrics
from mlops_pipeline.storage.schema import upgrade
from tests.support.penguins import DATATYPES, ROW, penguins_settings, train_penguins

HUGE_TEXT = st.text(min_size=250, max_size=3000)
HUGE_NUMBER = (
    st.integers(min_value=2**62, max_value=2**80)
    | st.integers(max_value=-(2**62), min_value=-(2**80))
    | st.floats(min_value=1e300)
    | st.sampled_from([float("nan"), float("inf"), -float("inf"), 1e308, -1e308])
)
SCALAR = (
    st.none()
    | st.booleans()
    | st.integers()
    | st.floats(allow_nan=True)
    | st.text(max_size=20)
    | HUGE_TEXT
    | HUGE_NUMBER
)
JUNK = st.recursive(
    SCALAR,
    lambda children: (
        st.lists(children, max_size=4) | st.dictionaries(st.text(max_size=8), children, max_size=4)
    ),
    max_leaves=12,
)
FINITE = st.floats(allow_nan=False, allow_infinity=False, width=64) | st.integers(-(10**6), 10**6)
VALID: dict[str, st.SearchStrategy[Any]] = {
    "island": st.sampled_from(["Biscoe", "Dream", "Torgersen"]) | st.text(max_size=30),
    "sex": st.sampled_from(["male", "female", None]),
    "year": st.integers(2000, 2030) | st.sampled_from([2007.0, 2008.0]),
}


@st.composite
def rows(draw: st.DrawFn) -> dict[str, Any]:
    """A plausible row, then 0-3 changes: a value replaced by junk, a column left out, one added."""
    row = {name: draw(VALID.get(name, FINITE)) for name in ROW}
    for _ in range(draw(st.integers(0, 3))):
        change = draw(st.sampled_from(["junk", "drop", "extra"]))
        name = draw(st.sampled_from(sorted(ROW)))
        if change == "junk":
            row[name] = draw(JUNK)
        elif change == "drop":
            row.pop(name, None)
        else:
            row[draw(st.text(min_size=1, max_size=12) | HUGE_TEXT)] = draw(JUNK)
    return row


@st.composite
def bodies(draw: st.DrawFn) -> Any:
    form = draw(st.sampled_from(["features", "instances", "split", "records", "junk", "two forms"]))
    if form == "junk":
        return draw(JUNK)
    many = draw(st.lists(rows(), min_size=1, max_size=6))
    body: dict[str, Any]
    if form == "features":
        body = {"features": many[0]}
    elif form == "instances":
        body = {"instances": many}
    elif form == "records":
        body = {"dataframe_records": many}
    elif form == "split":
        columns = list(many[0])
        data = [[row.get(name) for name in columns] for row in many]
        if draw(st.booleans()):  # a ragged or junk data row
            data.append(draw(st.lists(JUNK, max_size=9)))
        body = {"dataframe_split": {"columns": columns, "data": data}}
    else:
        body = {"features": many[0], "instances": many}
    if draw(st.booleans()):
        body["user_id"] = draw(st.text(max_size=20) | JUNK)
    return body


@pytest.fixture(scope="module")
def typed_app(tmp_path_factory: pytest.TempPathFactory) -> Iterator[tuple[FlaskClient, Components]]:
    """The typed app (penguins, prediction log on) and its components, once for the module."""
    folder = tmp_path_factory.mktemp("typed-fuzz")
    typed_settings = penguins_settings(train_penguins(folder / "artifacts"), folder / "log.db")
    upgrade(database_url(typed_settings))
    registry = CollectorRegistry()
    components = build_components(typed_settings, Metrics(registry))
    yield create_app(typed_settings, components, registry).test_client(), components
    components.close()


def check_answer(answer: Any, components: Components) -> None:
    assert answer.status_code < 500, answer.get_data(as_text=True)[:500]
    event(f"/predict {answer.status_code}")  # --hypothesis-show-statistics: how many reach 200
    assert answer.is_json, answer.get_data(as_text=True)[:200]
    payload = answer.get_json()
    if answer.status_code >= 400:
        assert set(payload) >= {"error", "code"}, payload
        return
    assert answer.status_code == 200
    predictions = payload.get("predictions", [payload.get("prediction")])
    logged = components.service.recent_predictions(len(predictions))
    assert {row["request_id"] for row in logged} == {payload["request_id"]}
    assert [row["prediction"] for row in logged][::-1] == predictions


@settings(max_examples=400, deadline=None, suppress_health_check=list(HealthCheck))
@given(body=bodies())
def test_typed_bodies_are_answered_or_refused_never_a_server_error(
    typed_app: tuple[FlaskClient, Components], body: Any
) -> None:
    typed, typed_components = typed_app
    answer = typed.post(
        "/predict", data=json.dumps(body, allow_nan=True), content_type="application/json"
    )
    check_answer(answer, typed_components)


@st.composite
def v2_bodies(draw: st.DrawFn) -> Any:
    """Named V2 inputs built from fuzzed rows: junk data, datatypes and shapes."""
    many = draw(st.lists(rows(), min_size=1, max_size=4))
    inputs = []
    for name in sorted({name for row in many for name in row}):
        tensor: dict[str, Any] = {
            "name": name,
            "datatype": DATATYPES.get(name, "FP64"),
            "shape": [len(many), 1],
            "data": [row.get(name) for row in many],
        }
        if draw(st.integers(0, 4)) == 0:
            key = draw(st.sampled_from(["datatype", "shape", "data", "name", "parameters"]))
            tensor[key] = draw(JUNK)
        inputs.append(tensor)
    return {"inputs": inputs}


@settings(max_examples=200, deadline=None, suppress_health_check=list(HealthCheck))
@given(body=v2_bodies())
def test_v2_named_inputs_are_answered_or_refused_never_a_server_error(
    typed_app: tuple[FlaskClient, Components], body: Any
) -> None:
    typed, typed_components = typed_app
    answer = typed.post(
        "/v2/models/penguins/infer",
        data=json.dumps(body, allow_nan=True),
        content_type="application/json",
    )
    assert answer.status_code < 500, answer.get_data(as_text=True)[:500]
    event(f"v2 {answer.status_code}")
    payload = answer.get_json()
    if answer.status_code >= 400:
        assert set(payload) >= {"error", "code"}
        return
    labels = next(o["data"] for o in payload["outputs"] if o["name"] == "label")
    logged = typed_components.service.recent_predictions(len(labels))
    assert {row["request_id"] for row in logged} == {answer.headers["X-Request-Id"]}
    assert [row["prediction"] for row in logged][::-1] == labels
