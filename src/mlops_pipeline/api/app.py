"""The Flask app factory: collaborators come in, nothing is built here."""

from __future__ import annotations

import time

from flask import Flask, Response, jsonify, request
from prometheus_client import CollectorRegistry

from mlops_pipeline.api.auth import Guard
from mlops_pipeline.api.error_answers import error_answer
from mlops_pipeline.api.inference import (
    MODEL_VERSION,
    REQUEST_ID,
    STARTED,
    FastPath,
)
from mlops_pipeline.api.retrains import build_retrain_blueprint
from mlops_pipeline.api.rollouts import build_rollout_blueprint
from mlops_pipeline.api.routes import build_blueprint
from mlops_pipeline.api.typed_inference import inference_endpoints
from mlops_pipeline.components import Components
from mlops_pipeline.config import Settings
from mlops_pipeline.monitoring.metrics import Metrics, bounded_method
from mlops_pipeline.protocol.access_log import AccessLog, new_request_id


def create_app(
    settings: Settings,
    components: Components,
    registry: CollectorRegistry,
    access_log: AccessLog | None = None,
) -> Flask:
    """``registry``: what /metrics exposes (the multiprocess collector under a server)."""
    app = Flask(__name__)
    app.config["MAX_CONTENT_LENGTH"] = settings.max_body_bytes
    app.json.sort_keys = False  # type: ignore[attr-defined]
    metrics = components.service.metrics
    log = access_log if access_log is not None else AccessLog(enabled=settings.access_log)
    guard = Guard.from_settings(settings, log)
    add_request_hooks(app, metrics, log)
    add_error_handlers(app, metrics)
    endpoints = inference_endpoints(settings, components.service, log)
    app.register_blueprint(build_blueprint(settings, components, registry, guard, endpoints))
    experiment = components.experiment
    app.register_blueprint(
        build_rollout_blueprint(
            components.rollouts,
            guard,
            settings.max_body_bytes,
            experiment.sync_weights if experiment is not None else (lambda: None),
        )
    )
    app.register_blueprint(
        build_retrain_blueprint(components.retrains, guard, settings.max_body_bytes)
    )
    # The inference paths skip Flask's per-request machinery (see api/inference.py).
    app.wsgi_app = FastPath(  # type: ignore[method-assign]
        app.wsgi_app, endpoints, metrics, log
    )
    return app


def add_request_hooks(app: Flask, metrics: Metrics, log: AccessLog) -> None:
    """Every request Flask handles gets an id, a latency sample and an access-log line."""

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


def add_error_handlers(app: Flask, metrics: Metrics) -> None:
    """Whatever a route raises answers as api/error_answers.py decides, written by ``jsonify``
    (Werkzeug's own exceptions, 404 and 405 among them, reach this handler too)."""

    @app.errorhandler(Exception)
    def error(exc: Exception) -> tuple[Response, int]:
        status, fields = error_answer(exc, request.environ.get(REQUEST_ID, ""), metrics)
        return jsonify(fields), status
