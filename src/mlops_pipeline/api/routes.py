"""Routes: parse, delegate to the service, serialize. No business logic here.

Handlers close over their collaborators instead of looking them up through ``current_app``:
each context-local lookup costs about as much as the model itself on the /predict path.
"""

from __future__ import annotations

import json
import time
from typing import Any

from flask import Blueprint, Response, jsonify, request
from prometheus_client import CONTENT_TYPE_LATEST, CollectorRegistry, generate_latest

from mlops_pipeline.api.auth import Guard, Role
from mlops_pipeline.api.openapi import openapi_spec
from mlops_pipeline.config import Settings
from mlops_pipeline.errors import (
    DriftUnavailable,
    ExperimentUnavailable,
    InvalidFeatureValue,
    InvalidJSON,
    InvalidParameter,
    NotReady,
    PayloadTooLarge,
    UnsupportedMediaType,
    WrongFeatureCount,
)
from mlops_pipeline.experiment_service import ExperimentService
from mlops_pipeline.monitoring import DriftMonitor
from mlops_pipeline.service import Prediction, PredictionService
from mlops_pipeline.storage.reports import ReportStore
from mlops_pipeline.v2_protocol import (
    ModelNotFound,
    infer_response,
    model_metadata,
    parse_infer_request,
)
from mlops_pipeline.validation import (
    PredictRequest,
    parse_feedback,
    parse_predict_request,
    parse_weights,
)

MAX_LOG_LIMIT = 1_000
# Keys this app adds to the WSGI environ of each request.
REQUEST_ID = "mlops.request_id"
STARTED = "mlops.started"
MODEL_VERSION = "mlops.model_version"
READ_CHUNK = 64 * 1024


def json_response(body: Any, status: int = 200) -> Response:
    # json.dumps straight into the response: jsonify's provider machinery costs more than the
    # model does on the /predict path.
    return Response(json.dumps(body, separators=(",", ":")), status, mimetype="application/json")


def is_json_media_type(mimetype: str) -> bool:
    """application/json or any structured-syntax +json type (parameters such as charset allowed)."""
    if mimetype == "application/json":
        return True
    kind, slash, subtype = mimetype.partition("/")
    return bool(kind) and bool(slash) and subtype.endswith("+json") and len(subtype) > 5


def read_body(max_bytes: int) -> bytes:
    """The request body, refusing more than ``max_bytes`` whether it is sized or chunked."""
    environ = request.environ
    if environ.get("CONTENT_LENGTH") or not environ.get("wsgi.input_terminated"):
        # Sized (werkzeug answers 413 above MAX_CONTENT_LENGTH) or no body at all.
        return request.get_data(cache=False)
    # Chunked: werkzeug would silently cut it at the limit, so read one byte past it.
    stream = environ["wsgi.input"]
    chunks: list[bytes] = []
    size = 0
    while size <= max_bytes:
        chunk = stream.read(min(READ_CHUNK, max_bytes + 1 - size))
        if not chunk:
            break
        chunks.append(chunk)
        size += len(chunk)
    if size > max_bytes:
        raise PayloadTooLarge(f"body exceeds {max_bytes} bytes")
    return b"".join(chunks)


def parse_json_body(max_bytes: int) -> Any:
    # Only JSON content types: a browser cannot send those cross-site without a CORS preflight,
    # which this API never grants, so a page elsewhere cannot post feedback or weights.
    if not is_json_media_type(request.mimetype):
        raise UnsupportedMediaType(
            "send the body as JSON with 'Content-Type: application/json' (curl --json)"
        )
    # NaN and Infinity literals pass here and are refused by validation as invalid values.
    try:
        return json.loads(read_body(max_bytes))
    except ValueError as exc:  # JSONDecodeError and UnicodeDecodeError
        raise InvalidJSON(f"body is not valid JSON: {exc}") from None
    except RecursionError:
        raise InvalidJSON("body is nested too deeply") from None


def build_blueprint(
    settings: Settings,
    service: PredictionService,
    registry: CollectorRegistry,
    guard: Guard,
    monitor: DriftMonitor | None,
    experiment: ExperimentService | None = None,
    reports: ReportStore | None = None,
) -> Blueprint:
    blueprint = Blueprint("api", __name__)
    max_bytes = settings.max_body_bytes

    def json_body() -> Any:
        return parse_json_body(max_bytes)

    @blueprint.post("/predict")
    def predict() -> Response:
        environ = request.environ
        try:
            parsed = parse_predict_request(
                json_body(),
                service.feature_names,
                settings.max_batch_rows,
                header_user_id=environ.get("HTTP_X_USER_ID"),
            )
        except (WrongFeatureCount, InvalidFeatureValue) as error:
            service.record_rejection(error.code)  # bad inputs are a drift signal too
            raise
        result = service.predict(parsed, environ[REQUEST_ID])
        environ[MODEL_VERSION] = result.model_version
        return json_response(
            batch_body(result, service) if parsed.is_batch else single_body(result, service)
        )

    @blueprint.get("/health")
    def health() -> Response:
        return jsonify(status="ok")

    @blueprint.get("/ready")
    def ready() -> Response:
        if not service.ready:
            raise NotReady("models are not loaded")
        return jsonify(status="ready", versions=service.versions)

    @blueprint.get("/config")
    def config() -> Response:
        return jsonify(service.config())

    @blueprint.get("/models")
    def models() -> Response:
        return jsonify(service.models())

    @blueprint.get("/predictions")
    def predictions() -> Response:
        guard.require(Role.ADMIN)  # user ids and inputs of every caller
        limit = int_parameter("limit", default=100, low=1, high=MAX_LOG_LIMIT)
        rows = service.recent_predictions(limit)
        return jsonify(predictions=rows, count=len(rows))

    @blueprint.get("/drift")
    def drift() -> Response:
        if monitor is None:
            raise DriftUnavailable(
                "drift detection needs the prediction log (MLOPS_LOG_PREDICTIONS)"
            )
        stored = monitor_report("drift")
        if stored is not None:
            return stored
        latest = monitor.latest(max_age_seconds=settings.drift_interval_seconds)
        return jsonify({**latest, "source": "replica"})

    def monitor_report(name: str) -> Response | None:
        """The leader monitor's report, byte for byte the same on every replica, while fresh.

        Without a fresh one (no monitor running, as in a single process) the replica computes.
        """
        if reports is None:
            return None
        stored = reports.load(name)
        if stored is None or time.time() - stored.computed_at > settings.report_max_age_seconds:
            return None
        return Response(stored.body, mimetype="application/json")

    def experiment_service() -> ExperimentService:
        if experiment is None:
            raise ExperimentUnavailable(
                "experiments need the prediction log (MLOPS_LOG_PREDICTIONS)"
            )
        return experiment

    @blueprint.post("/feedback")
    def feedback() -> Response:
        guard.require(Role.FEEDBACK)
        payload = json_body()
        results = experiment_service().record_feedback(parse_feedback(payload, service.class_names))
        return jsonify(results if isinstance(payload, list) else results[0])

    @blueprint.get("/experiment")
    def experiment_report() -> Response:
        service = experiment_service()
        stored = monitor_report("experiment")
        if stored is not None:
            return stored
        return jsonify({**service.report(), "source": "replica"})

    @blueprint.put("/config/weights")
    def change_weights() -> Response:
        actor = guard.require(Role.ADMIN)
        weights = parse_weights(json_body(), service.versions)
        old = service.router.weights
        new = experiment_service().change_weights(weights, actor)
        guard.log.event("weights_changed", actor=actor, old=old, new=new)
        return jsonify(weights=new)

    @blueprint.get("/config/history")
    def weight_history() -> Response:
        guard.require(Role.ADMIN)  # actors' names and addresses
        limit = int_parameter("limit", default=100, low=1, high=MAX_LOG_LIMIT)
        changes = experiment_service().history(limit)
        return jsonify(
            changes=[
                {
                    "id": c.id,
                    "changed_at": c.changed_at,
                    "actor": c.actor,
                    "old": c.old,
                    "new": c.new,
                }
                for c in changes
            ]
        )

    def known_model(name: str) -> None:
        if name != settings.model_name:
            raise ModelNotFound(f"no model {name!r}; this server serves {settings.model_name!r}")

    @blueprint.get("/v2/health/live")
    def v2_live() -> Response:
        return jsonify(live=True)

    @blueprint.get("/v2/health/ready")
    def v2_ready() -> Response:
        if not service.ready:
            raise NotReady("models are not loaded")
        return jsonify(ready=True)

    @blueprint.get("/v2/models/<name>")
    def v2_metadata(name: str) -> Response:
        known_model(name)
        return jsonify(
            model_metadata(
                name, service.versions, len(service.feature_names), len(service.class_names)
            )
        )

    @blueprint.get("/v2/models/<name>/ready")
    def v2_model_ready(name: str) -> Response:
        known_model(name)
        return jsonify(name=name, ready=service.ready)

    @blueprint.post("/v2/models/<name>/infer")
    @blueprint.post("/v2/models/<name>/versions/<version>/infer")
    def v2_infer(name: str, version: str | None = None) -> Response:
        known_model(name)
        if version is not None and version not in service.versions:
            raise ModelNotFound(f"model {name!r} has no version {version!r}")
        infer = parse_infer_request(
            json_body(), len(service.feature_names), settings.max_batch_rows
        )
        result = service.predict(
            PredictRequest(infer.rows, None, is_batch=len(infer.rows) > 1),
            request.environ[REQUEST_ID],
            version,
        )
        request.environ[MODEL_VERSION] = result.model_version
        return json_response(
            infer_response(
                name, result.model_version, infer.id, result.classes, result.probabilities
            )
        )

    spec = openapi_spec(settings.model_name, list(service.feature_names), len(service.class_names))

    @blueprint.get("/openapi.json")
    def openapi() -> Response:
        return jsonify(spec)

    @blueprint.get("/metrics")
    def metrics() -> Response:
        return Response(generate_latest(registry), content_type=CONTENT_TYPE_LATEST)

    return blueprint


def int_parameter(name: str, default: int, low: int, high: int) -> int:
    raw = request.args.get(name)
    if raw is None:
        return default
    try:
        value = int(raw)
    except ValueError:
        value = low - 1
    if not low <= value <= high:
        raise InvalidParameter(f"{name} must be an integer from {low} to {high}, got {raw!r}")
    return value


def single_body(result: Prediction, service: PredictionService) -> dict[str, Any]:
    predicted = int(result.classes[0])
    return {
        "request_id": result.request_id,
        "prediction": predicted,
        "class_name": service.class_names[predicted],
        "probabilities": result.probabilities[0].tolist(),
        "model_version": result.model_version,
        "latency_ms": round(result.latency_ms, 4),
    }


def batch_body(result: Prediction, service: PredictionService) -> dict[str, Any]:
    predictions = result.classes.tolist()
    return {
        "request_id": result.request_id,
        "predictions": predictions,
        "class_names": [service.class_names[index] for index in predictions],
        "probabilities": result.probabilities.tolist(),
        "model_version": result.model_version,
        "latency_ms": round(result.latency_ms, 4),
    }
