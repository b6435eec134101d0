"""The Flask app factory: collaborators come in, nothing is built here."""

from __future__ import annotations

import logging
import os
import time

from flask import Flask, Response, g, jsonify, request
from prometheus_client import CollectorRegistry
from werkzeug.exceptions import HTTPException

from mlops_pipeline.api.routes import blueprint
from mlops_pipeline.config import Settings
from mlops_pipeline.errors import ApiError
from mlops_pipeline.service import PredictionService

logger = logging.getLogger(__name__)

# Werkzeug's exceptions for client mistakes, mapped to this API's stable error codes.
HTTP_ERROR_CODES = {404: "not_found", 405: "method_not_allowed", 413: "payload_too_large"}


def new_request_id() -> str:
    """32 hex digits: a millisecond timestamp, then 80 random bits.

    Time-ordered ids append to the right edge of the log's index instead of landing on random
    pages, which makes the per-request insert measurably cheaper.
    """
    return f"{time.time_ns() // 1_000_000:012x}{os.urandom(10).hex()}"


def create_app(
    settings: Settings, service: PredictionService, registry: CollectorRegistry
) -> Flask:
    app = Flask(__name__)
    app.config["MAX_CONTENT_LENGTH"] = settings.max_body_bytes
    app.json.sort_keys = False  # type: ignore[attr-defined]
    app.extensions["mlops"] = {"settings": settings, "service": service, "registry": registry}
    metrics = service.metrics

    @app.before_request
    def start_request() -> None:
        g.started = time.perf_counter()
        g.request_id = new_request_id()

    @app.after_request
    def record_request(response: Response) -> Response:
        endpoint = request.url_rule.rule if request.url_rule is not None else "unmatched"
        elapsed = time.perf_counter() - g.get("started", time.perf_counter())
        metrics.observe_request(endpoint, request.method, response.status_code, elapsed)
        response.headers["X-Request-ID"] = g.get("request_id", "")
        return response

    def error_response(status: int, code: str, message: str) -> tuple[Response, int]:
        metrics.errors.labels(code).inc()
        return jsonify(error=message, code=code), status

    @app.errorhandler(ApiError)
    def api_error(error: ApiError) -> tuple[Response, int]:
        return error_response(error.status, error.code, error.message)

    @app.errorhandler(HTTPException)
    def http_error(error: HTTPException) -> tuple[Response, int]:
        status = error.code or 500
        code = HTTP_ERROR_CODES.get(status, "bad_request" if status < 500 else "internal_error")
        return error_response(status, code, error.description or error.name)

    @app.errorhandler(Exception)
    def unexpected_error(error: Exception) -> tuple[Response, int]:
        request_id = g.get("request_id", "")
        logger.exception("unhandled error in request %s", request_id)
        metrics.errors.labels("internal_error").inc()
        body = {
            "error": "internal error; the server log has details",
            "code": "internal_error",
            "request_id": request_id,
        }
        return jsonify(body), 500

    app.register_blueprint(blueprint)
    return app
