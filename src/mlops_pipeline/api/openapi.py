"""OpenAPI 3 description of every endpoint, served at /openapi.json and checked by schemathesis.

The paths and their operations, in the order the document lists them; the request and answer
schemas they name live in openapi_schemas.py.
"""

from __future__ import annotations

from typing import Any

from mlops_pipeline import __version__
from mlops_pipeline.api.openapi_schemas import (
    ERROR,
    FEEDBACK_ITEM,
    INFER_BODY,
    INFER_OK,
    NUMBER,
    OBJECT,
    STRING,
    predict_body,
    predict_ok,
)
from mlops_pipeline.api.openapi_typed import row_error_answers, typed_infer_body, typed_predict_body
from mlops_pipeline.schema.model import FeatureSchema
from mlops_pipeline.serving.typed_requests import typed_schema


def _json(schema: dict[str, Any]) -> dict[str, Any]:
    return {"content": {"application/json": {"schema": schema}}}


def _operation(
    summary: str,
    ok: dict[str, Any],
    body: dict[str, Any] | None = None,
    admin: bool = False,
    parameters: list[dict[str, Any]] | None = None,
) -> dict[str, Any]:
    operation: dict[str, Any] = {
        "summary": summary,
        "responses": {
            "200": {"description": "OK", **_json(ok)},
            "default": {"description": "Error", **_json(ERROR)},
        },
    }
    if body is not None:
        operation["requestBody"] = {"required": True, **_json(body)}
    if admin:
        operation["security"] = [{"bearer": []}]
    if parameters:
        operation["parameters"] = parameters
    return operation


def _created(operation: dict[str, Any]) -> dict[str, Any]:
    """The same operation answering 201 Created instead of 200."""
    responses = dict(operation["responses"])
    responses["201"] = {**responses.pop("200"), "description": "Created"}
    return {**operation, "responses": responses}


def _accepted(operation: dict[str, Any]) -> dict[str, Any]:
    """The same operation answering 202 Accepted (queued, done later) instead of 200."""
    responses = dict(operation["responses"])
    responses["202"] = {**responses.pop("200"), "description": "Accepted"}
    return {**operation, "responses": responses}


def openapi_spec(
    model_name: str,
    feature_names: list[str],
    n_classes: int,
    schema: FeatureSchema | None = None,
) -> dict[str, Any]:
    """The document; a typed ``schema`` describes /predict and V2 infer by column (openapi_typed),
    an all-numeric one or none leaves the document exactly as it always was."""
    typed = typed_schema(schema)
    # Paths in the order they are listed (the document is served with its keys unsorted).
    paths: dict[str, Any] = {
        **_serving_paths(feature_names, n_classes, typed),
        **_delivery_paths(),
        "/metrics": {"get": {"summary": "Prometheus metrics", "responses": {"200": METRICS_OK}}},
        "/openapi.json": {"get": _operation("This description", OBJECT)},
        **_v2_paths(model_name, INFER_BODY if typed is None else typed_infer_body(typed)),
    }
    return {
        "openapi": "3.0.3",
        "info": {"title": "mlops-pipeline API", "version": __version__},
        "paths": paths,
        "components": {"securitySchemes": {"bearer": {"type": "http", "scheme": "bearer"}}},
    }


LIMIT = {
    "name": "limit",
    "in": "query",
    "required": False,
    "schema": {"type": "integer", "minimum": 1, "maximum": 1000},
}
FEW = {**LIMIT, "schema": {"type": "integer", "minimum": 1, "maximum": 200}}
METRICS_OK = {
    "description": "Prometheus text format",
    "content": {"text/plain": {"schema": STRING}},
}


def _serving_paths(
    feature_names: list[str], n_classes: int, typed: FeatureSchema | None
) -> dict[str, Any]:
    """Prediction, what is served, the reports and the run-time controls."""
    if typed is None:
        predict = _operation(
            "Predict one row or a batch", predict_ok(n_classes), predict_body(feature_names)
        )
    else:
        predict = _operation(
            "Predict one row or a batch, by column name",
            predict_ok(len(typed.task.classes)),
            typed_predict_body(typed),
        )
        ok, default = predict["responses"]["200"], predict["responses"]["default"]
        predict["responses"] = {"200": ok, **row_error_answers(), "default": default}
    return {
        "/predict": {"post": predict},
        "/health": {"get": _operation("Liveness", OBJECT)},
        "/ready": {"get": _operation("Readiness", OBJECT)},
        "/config": {"get": _operation("Weights, versions, features", OBJECT)},
        "/models": {"get": _operation("Metadata of every served version", OBJECT)},
        "/predictions": {
            "get": _operation("Newest logged predictions", OBJECT, parameters=[LIMIT])
        },
        "/drift": {"get": _operation("Drift report", OBJECT)},
        "/feedback": {
            "post": _operation(
                "Label logged predictions",
                {"oneOf": [OBJECT, {"type": "array"}]},
                {"oneOf": [FEEDBACK_ITEM, {"type": "array", "items": FEEDBACK_ITEM}]},
            )
        },
        "/experiment": {"get": _operation("A/B verdict", OBJECT)},
        "/config/weights": {
            "put": _operation(
                "Change the traffic split (admin)",
                OBJECT,
                {"type": "object", "additionalProperties": NUMBER},
                admin=True,
            )
        },
        "/config/shadow": {
            "put": _operation(
                "Switch shadow scoring to a served version, or off with null (admin)",
                OBJECT,
                {"type": "object", "properties": {"version": {"type": "string", "nullable": True}}},
                admin=True,
            )
        },
        "/config/history": {
            "get": _operation("Audit of weight changes", OBJECT, parameters=[LIMIT])
        },
    }


def _delivery_paths() -> dict[str, Any]:
    """Rollouts and retraining."""
    retrain_body = {
        "type": "object",
        "properties": {
            "version": STRING,
            "since_days": {"type": "number"},
            "rollout": {"type": "boolean"},
        },
    }
    return {
        "/rollouts": {
            "get": _operation(
                "Rollouts, newest first, with their audit trail", OBJECT, parameters=[FEW]
            ),
            "post": _created(
                _operation("Start a rollout of a candidate version (admin)", OBJECT, OBJECT, True)
            ),
        },
        "/rollouts/current": {"get": _operation("The running rollout", OBJECT)},
        "/retrains": {
            "get": _operation(
                "Retraining runs, newest first (who asked: admin only)", OBJECT, parameters=[FEW]
            ),
            "post": _accepted(
                _operation(
                    "Queue a retrain from production labels; the monitor runs it (admin)",
                    OBJECT,
                    retrain_body,
                    admin=True,
                )
            ),
        },
        "/rollouts/current/abort": {
            "post": _operation("Abort the running rollout (admin)", OBJECT, admin=True)
        },
    }


def _v2_paths(model_name: str, infer_body: dict[str, Any]) -> dict[str, Any]:
    """The Open Inference Protocol's REST paths."""
    name = {"name": "name", "in": "path", "required": True, "schema": STRING, "example": model_name}
    return {
        "/v2/health/live": {"get": _operation("V2 liveness", OBJECT)},
        "/v2/health/ready": {"get": _operation("V2 readiness", OBJECT)},
        "/v2/models/{name}": {
            "get": {**_operation("V2 model metadata", OBJECT), "parameters": [name]}
        },
        "/v2/models/{name}/ready": {
            "get": {**_operation("V2 model readiness", OBJECT), "parameters": [name]}
        },
        "/v2/models/{name}/infer": {
            "post": {
                **_operation("V2 inference (A/B routed)", INFER_OK, infer_body),
                "parameters": [name],
            }
        },
        "/v2/models/{name}/versions/{version}/infer": {
            "post": {
                **_operation("V2 inference on one version", INFER_OK, infer_body),
                "parameters": [
                    name,
                    {"name": "version", "in": "path", "required": True, "schema": STRING},
                ],
            }
        },
    }
