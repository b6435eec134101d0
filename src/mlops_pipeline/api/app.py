"""The Flask app factory: collaborators come in, nothing is built here."""

from __future__ import annotations

import logging
import time

from flask import Flask, Response, jsonify, request
from prometheus_client import CollectorRegistry
from werkzeug.exceptions import HTTPException

from mlops_pipeline.api.auth import Guard
from mlops_pipeline.api.inference import (
    MODEL_VERSION,
    REQUEST_ID,
    STARTED,
    FastPath,
    InferenceEndpoints,
    new_request_id,
)
from mlops_pipeline.api.retrains import build_retrain_blueprint
from mlops_pipeline.api.rollouts import build_rollout_blueprint
from mlops_pipeline.api.routes import build_blueprint
from mlops_pipeline.config import Settings
from mlops_pipeline.delivery.service import RolloutService
from mlops_pipeline.errors import ApiError, StorageUnavailable
from mlops_pipeline.experiment.service import ExperimentService
from mlops_pipeline.monitoring.drift_monitor import DriftMonitor
from mlops_pipeline.monitoring.metrics import bounded_method
from mlops_pipeline.protocol.access_log import AccessLog
from mlops_pipeline.serving.service import PredictionService
from mlops_pipeline.serving.shadow import ShadowSwitch
from mlops_pipeline.storage import StoreUnavailable
from mlops_pipeline.storage.reports import ReportStore
from mlops_pipeline.storage.retrains import RetrainStore
from mlops_pipeline.storage.runtime import RuntimeSettings

logger = logging.getLogger(__name__)

# Werkzeug's exceptions for client mistakes, mapped to this API's stable error codes.
HTTP_ERROR_CODES = {
    404: "not_found",
    405: "method_not_allowed",
    413: "payload_too_large",
    415: "unsupported_media_type",
}


def create_app(
    settings: Settings,
    service: PredictionService,
    registry: CollectorRegistry,
    monitor: DriftMonitor | None = None,
    experiment: ExperimentService | None = None,
    access_log: AccessLog | None = None,
    reports: ReportStore | None = None,
    rollouts: RolloutService | None = None,
    shadow_switch: ShadowSwitch | None = None,
    runtime: RuntimeSettings | None = None,
    retrains: RetrainStore | None = None,
) -> Flask:
    app = Flask(__name__)
    app.config["MAX_CONTENT_LENGTH"] = settings.max_body_bytes
    app.json.sort_keys = False  # type: ignore[attr-defined]
    metrics = service.metrics
    log = access_log if access_log is not None else AccessLog(enabled=settings.access_log)
    guard = Guard.from_settings(settings, log)

    @app.before_request
    def start_request() -> None:
        environ = request.environ
        environ[STARTED] = time.perf_counter()
        environ[REQUEST_ID] = new_request_id()

    @app.after_request
    def record_request(response: Response) -> Response:
        environ = request.environ
        rule = request.url_rule
        route = rule.rule if rule is not None else "unmatched"
        elapsed = time.perf_counter() - environ.get(STARTED, time.perf_counter())
        method = bounded_method(environ["REQUEST_METHOD"])
        metrics.observe_request(route, method, response.status_code, elapsed)
        request_id = environ.get(REQUEST_ID, "")
        response.headers["X-Request-ID"] = request_id
        if log.enabled:
            log.request(
                request_id,
                method,
                route,
                response.status_code,
                elapsed * 1000,
                environ.get("REMOTE_ADDR"),
                environ.get(MODEL_VERSION),
            )
        return response

    def error_response(status: int, code: str, message: str) -> tuple[Response, int]:
        metrics.count_error(code)
        return jsonify(error=message, code=code), status

    @app.errorhandler(ApiError)
    def api_error(error: ApiError) -> tuple[Response, int]:
        return error_response(error.status, error.code, error.message)

    @app.errorhandler(StoreUnavailable)
    def storage_error(error: StoreUnavailable) -> tuple[Response, int]:
        logger.error("storage unavailable: %s", error)
        mapped = StorageUnavailable("the database cannot answer now; retry later")
        return error_response(mapped.status, mapped.code, mapped.message)

    @app.errorhandler(HTTPException)
    def http_error(error: HTTPException) -> tuple[Response, int]:
        status = error.code or 500
        code = HTTP_ERROR_CODES.get(status, "bad_request" if status < 500 else "internal_error")
        return error_response(status, code, error.description or error.name)

    @app.errorhandler(Exception)
    def unexpected_error(error: Exception) -> tuple[Response, int]:
        request_id = request.environ.get(REQUEST_ID, "")
        logger.exception("unhandled error in request %s", request_id)
        metrics.count_error("internal_error")
        body = {
            "error": "internal error; the server log has details",
            "code": "internal_error",
            "request_id": request_id,
        }
        return jsonify(body), 500

    endpoints = InferenceEndpoints(settings, service, log)
    app.register_blueprint(
        build_blueprint(
            settings,
            service,
            registry,
            guard,
            monitor,
            experiment,
            reports,
            endpoints,
            rollouts,
            shadow_switch,
            runtime,
        )
    )
    app.register_blueprint(
        build_rollout_blueprint(
            rollouts,
            guard,
            settings.max_body_bytes,
            experiment.sync_weights if experiment is not None else (lambda: None),
        )
    )
    app.register_blueprint(build_retrain_blueprint(retrains, guard, settings.max_body_bytes))
    # The inference paths skip Flask's per-request machinery (see api/inference.py).
    app.wsgi_app = FastPath(  # type: ignore[method-assign]
        app.wsgi_app, endpoints, metrics, log
    )
    return app
