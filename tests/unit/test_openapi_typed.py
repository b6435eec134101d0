"""The OpenAPI document of a typed model (issue #22): /predict described by column (JSON type,
nullability, the four body forms, the row error codes), V2 infer by named input; schemathesis
over the typed app finds no 5xx and no answer outside the document."""

from __future__ import annotations

from typing import Any

import pytest
import schemathesis
from flask import Flask
from hypothesis import HealthCheck, given, settings
from prometheus_client import CollectorRegistry

from mlops_pipeline.api import create_app
from mlops_pipeline.bootstrap import build_components
from mlops_pipeline.config import database_url
from mlops_pipeline.monitoring.metrics import Metrics
from mlops_pipeline.storage.schema import upgrade
from tests.support.penguins import penguins_settings, train_penguins
from tests.unit.test_openapi import CHECKS


@pytest.fixture(scope="module")
def typed_app(tmp_path_factory: pytest.TempPathFactory) -> Flask:
    folder = tmp_path_factory.mktemp("openapi-typed")
    settings = penguins_settings(
        train_penguins(folder / "artifacts"),
        folder / "log.db",
        drift_interval_seconds=0,
        admin_token="fuzz-admin-token-0123",
        feedback_token="fuzz-feedback-token-0123",
        max_batch_rows=200,
        max_body_bytes=256 * 1024,
    )
    registry = CollectorRegistry()
    upgrade(database_url(settings))
    return create_app(settings, build_components(settings, Metrics(registry)), registry)


@pytest.fixture(scope="module")
def document(typed_app: Flask) -> dict[str, Any]:
    body: dict[str, Any] = typed_app.test_client().get("/openapi.json").get_json()
    return body


def test_predict_is_described_by_column(document: dict[str, Any]) -> None:
    predict = document["paths"]["/predict"]["post"]
    forms = predict["requestBody"]["content"]["application/json"]["schema"]["oneOf"]
    assert [form["required"] for form in forms] == [
        ["features"],
        ["instances"],
        ["dataframe_split"],
        ["dataframe_records"],
    ]
    row = forms[0]["properties"]["features"]
    assert row["additionalProperties"] is False
    properties = row["properties"]
    assert properties["island"]["type"] == "string"
    assert properties["island"]["maxLength"] == 256
    assert "Biscoe" in properties["island"]["description"]
    assert properties["bill_length_mm"]["type"] == "number"
    assert properties["year"] == {"type": "integer"}
    assert properties["sex"]["nullable"] is True
    assert "year" in row["required"]
    assert "sex" not in row["required"]
    assert forms[1]["properties"]["instances"]["items"] == row
    assert forms[3]["properties"]["dataframe_records"]["items"] == row
    split = forms[2]["properties"]["dataframe_split"]
    assert split["properties"]["columns"]["items"]["enum"][0] == "island"


def test_the_row_error_codes_are_documented(document: dict[str, Any]) -> None:
    responses = document["paths"]["/predict"]["post"]["responses"]
    assert list(responses) == ["200", "400", "413", "default"]
    for code in ("unknown_column", "missing_column", "wrong_type", "null_in_required"):
        assert code in responses["400"]["description"]
    assert "non_finite" in responses["400"]["description"]
    assert "string_too_long" in responses["400"]["description"]
    assert "too_many_rows" in responses["413"]["description"]


def test_v2_infer_takes_named_inputs(document: dict[str, Any]) -> None:
    infer = document["paths"]["/v2/models/{name}/infer"]["post"]
    body = infer["requestBody"]["content"]["application/json"]["schema"]
    tensor = body["properties"]["inputs"]["items"]
    assert "BYTES" in tensor["properties"]["datatype"]["enum"]
    assert "sex" in tensor["properties"]["name"]["enum"]


@pytest.fixture(scope="module")
def operations(typed_app: Flask) -> dict[str, Any]:
    schema = schemathesis.openapi.from_wsgi("/openapi.json", typed_app)
    found = {}
    for result in schema.get_all_operations():
        operation = result.ok()
        found[f"{operation.method.upper()} {operation.path}"] = operation
    return found


# What a typed schema changes: the bodies, the answers that carry class names and columns.
TYPED_OPERATIONS = {
    "POST /predict": 150,
    "POST /v2/models/{name}/infer": 50,
    "POST /v2/models/{name}/versions/{version}/infer": 25,
    "GET /v2/models/{name}": 10,
    "GET /config": 5,
    "GET /models": 5,
    "GET /predictions": 10,
    "GET /drift": 5,
    "GET /experiment": 5,
    "POST /feedback": 25,
}


@pytest.mark.parametrize("label", sorted(TYPED_OPERATIONS))
def test_typed_endpoints_conform(operations: dict[str, Any], label: str) -> None:
    @settings(
        max_examples=TYPED_OPERATIONS[label],
        deadline=None,
        database=None,
        suppress_health_check=list(HealthCheck),
    )
    @given(case=operations[label].as_strategy())
    def run(case: Any) -> None:
        response = case.call_and_validate(checks=CHECKS)
        statuses.add(response.status_code)

    statuses: set[int] = set()
    run()
    if label == "POST /predict":  # schemathesis reaches the model, not only the refusals
        assert 200 in statuses, statuses


def test_every_operation_is_still_documented(operations: dict[str, Any]) -> None:
    from tests.unit.test_openapi import OPERATIONS

    assert sorted(operations) == sorted(OPERATIONS)


def test_the_answer_has_the_task_classes(document: dict[str, Any]) -> None:
    ok = document["paths"]["/predict"]["post"]["responses"]["200"]
    schema = ok["content"]["application/json"]["schema"]["oneOf"][0]
    assert schema["properties"]["probabilities"]["maxItems"] == 3
