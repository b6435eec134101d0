"""Routes: parse, delegate to the service, serialize. No business logic here."""

from __future__ import annotations

import json
from typing import Any

from flask import Blueprint, Response, current_app, g, jsonify, request
from prometheus_client import CONTENT_TYPE_LATEST, CollectorRegistry, generate_latest

from mlops_pipeline.config import Settings
from mlops_pipeline.errors import InvalidJSON, InvalidParameter, NotReady
from mlops_pipeline.service import Prediction, PredictionService
from mlops_pipeline.validation import parse_predict_request

blueprint = Blueprint("api", __name__)

MAX_LOG_LIMIT = 1_000


def _service() -> PredictionService:
    service: PredictionService = current_app.extensions["mlops"]["service"]
    return service


def _settings() -> Settings:
    settings: Settings = current_app.extensions["mlops"]["settings"]
    return settings


def _json_body() -> Any:
    # Parsed whatever the Content-Type, so `curl -d` works; NaN and Infinity literals pass here
    # and are refused by validation as invalid feature values.
    try:
        return json.loads(request.get_data(cache=False))
    except ValueError as exc:  # JSONDecodeError and UnicodeDecodeError
        raise InvalidJSON(f"body is not valid JSON: {exc}") from None
    except RecursionError:
        raise InvalidJSON("body is nested too deeply") from None


@blueprint.post("/predict")
def predict() -> Response:
    service = _service()
    parsed = parse_predict_request(
        _json_body(),
        service.feature_names,
        _settings().max_batch_rows,
        header_user_id=request.headers.get("X-User-ID"),
    )
    result = service.predict(parsed, g.request_id)
    body = _batch_body(result, service) if parsed.is_batch else _single_body(result, service)
    # json.dumps straight into the response: jsonify's provider machinery costs more than the
    # model on this path.
    return Response(json.dumps(body, separators=(",", ":")), mimetype="application/json")


def _single_body(result: Prediction, service: PredictionService) -> dict[str, Any]:
    predicted = int(result.classes[0])
    return {
        "request_id": result.request_id,
        "prediction": predicted,
        "class_name": service.class_names[predicted],
        "probabilities": result.probabilities[0].tolist(),
        "model_version": result.model_version,
        "latency_ms": round(result.latency_ms, 4),
    }


def _batch_body(result: Prediction, service: PredictionService) -> dict[str, Any]:
    predictions = result.classes.tolist()
    return {
        "request_id": result.request_id,
        "predictions": predictions,
        "class_names": [service.class_names[index] for index in predictions],
        "probabilities": result.probabilities.tolist(),
        "model_version": result.model_version,
        "latency_ms": round(result.latency_ms, 4),
    }


@blueprint.get("/health")
def health() -> Response:
    return jsonify(status="ok")


@blueprint.get("/ready")
def ready() -> Response:
    service = _service()
    if not service.ready:
        raise NotReady("models are not loaded")
    return jsonify(status="ready", versions=service.versions)


@blueprint.get("/config")
def config() -> Response:
    return jsonify(_service().config())


@blueprint.get("/models")
def models() -> Response:
    return jsonify(_service().models())


@blueprint.get("/predictions")
def predictions() -> Response:
    raw = request.args.get("limit", "100")
    try:
        limit = int(raw)
    except ValueError:
        limit = 0
    if not 1 <= limit <= MAX_LOG_LIMIT:
        raise InvalidParameter(f"limit must be an integer from 1 to {MAX_LOG_LIMIT}, got {raw!r}")
    rows = _service().recent_predictions(limit)
    return jsonify(predictions=rows, count=len(rows))


@blueprint.get("/metrics")
def metrics() -> Response:
    registry: CollectorRegistry = current_app.extensions["mlops"]["registry"]
    return Response(generate_latest(registry), mimetype=None, content_type=CONTENT_TYPE_LATEST)
