"""Routes: parse, delegate to the service, serialize. No business logic here.

Handlers close over their collaborators instead of looking them up through ``current_app``:
each context-local lookup costs about as much as the model itself on the /predict path.
"""

from __future__ import annotations

import time
from typing import Any

from flask import Blueprint, Response, jsonify, request
from prometheus_client import CONTENT_TYPE_LATEST, CollectorRegistry, generate_latest

from mlops_pipeline.api.auth import Guard, Role
from mlops_pipeline.api.bodies import int_parameter, read_json
from mlops_pipeline.api.inference import MODEL_VERSION, InferenceEndpoints
from mlops_pipeline.api.openapi import openapi_spec
from mlops_pipeline.config import Settings
from mlops_pipeline.delivery.service import RolloutService
from mlops_pipeline.errors import (
    DriftUnavailable,
    ExperimentUnavailable,
    NotReady,
    RolloutConflict,
    UnknownVersion,
)
from mlops_pipeline.experiment.service import ExperimentService
from mlops_pipeline.monitoring.drift_monitor import DriftMonitor
from mlops_pipeline.protocol.v2 import (
    ModelNotFound,
    model_metadata,
)
from mlops_pipeline.serving.service import PredictionService
from mlops_pipeline.serving.shadow import SHADOW_SETTING, ShadowSwitch
from mlops_pipeline.serving.validation import (
    parse_feedback,
    parse_weights,
)
from mlops_pipeline.storage import StoreUnavailable
from mlops_pipeline.storage.reports import ReportStore
from mlops_pipeline.storage.runtime import RuntimeSettings
from mlops_pipeline.storage.weights import RolloutControlsWeights

MAX_LOG_LIMIT = 1_000


def build_blueprint(
    settings: Settings,
    service: PredictionService,
    registry: CollectorRegistry,
    guard: Guard,
    monitor: DriftMonitor | None,
    experiment: ExperimentService | None = None,
    reports: ReportStore | None = None,
    endpoints: InferenceEndpoints | None = None,
    rollouts: RolloutService | None = None,
    shadow_switch: ShadowSwitch | None = None,
    runtime: RuntimeSettings | None = None,
) -> Blueprint:
    blueprint = Blueprint("api", __name__)
    max_bytes = settings.max_body_bytes
    endpoints = endpoints or InferenceEndpoints(settings, service)

    def json_body() -> Any:
        return read_json(request.environ, max_bytes)

    def inference_answer(version: str | None = None) -> Response:
        # Normally answered by FastPath before Flask sees the request; the same code either way.
        answer = endpoints.answer(request.environ, version)
        if answer.model_version is not None:
            request.environ[MODEL_VERSION] = answer.model_version
        return Response(answer.body, answer.status, headers=answer.headers())

    @blueprint.post("/predict")
    def predict() -> Response:
        return inference_answer()

    @blueprint.get("/health")
    def health() -> Response:
        # Liveness: this process answers. Never the database: an outage is no reason to restart.
        return jsonify(status="ok")

    @blueprint.get("/ready")
    def ready() -> Response:
        if not service.ready:
            raise NotReady("models are not loaded")
        if runtime is not None and not runtime.reachable():
            raise NotReady("the database does not answer")
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
        return jsonify({**latest.to_json(), "source": "replica"})

    def monitor_report(name: str) -> Response | None:
        """The leader monitor's report, byte for byte the same on every replica, while fresh.

        Without a fresh one (no monitor running, as in a single process) the replica computes.
        """
        if reports is None:
            return None
        try:
            stored = reports.load(name)
        except StoreUnavailable:
            return None  # the replica computes its own (which may fail the same way, as a 503)
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
        return jsonify({**service.report().to_json(), "source": "replica"})

    @blueprint.put("/config/weights")
    def change_weights() -> Response:
        actor = guard.require(Role.ADMIN)
        weights = parse_weights(json_body(), service.versions)
        if request.args.get("abort_rollout") == "true" and rollouts is not None:
            aborted = rollouts.abort_if_running(actor)  # one that just ended is no error
            if aborted is not None:
                guard.log.event("rollout_aborted", actor=actor, rollout_id=aborted.id)
        try:
            old, new = experiment_service().change_weights(weights, actor)
        except RolloutControlsWeights:
            raise RolloutConflict(
                "a rollout controls the split; abort it (POST /rollouts/current/abort, or PUT"
                " with ?abort_rollout=true)"
            ) from None
        guard.log.event("weights_changed", actor=actor, old=old, new=new)
        return jsonify(weights=new)

    @blueprint.put("/config/shadow")
    def change_shadow() -> Response:
        actor = guard.require(Role.ADMIN)
        body = json_body()
        version = body.get("version") if isinstance(body, dict) else None
        if (
            not isinstance(body, dict)
            or "version" not in body
            or (version is not None and version not in service.versions)
        ):
            raise UnknownVersion(
                f'send {{"version": V}} with V a served version {service.versions}, or null'
                " to switch shadow scoring off"
            )
        if shadow_switch is None or runtime is None:
            raise ExperimentUnavailable("shadow scoring records to the prediction log: enable it")
        runtime.set(SHADOW_SETTING, version, actor, time.time())
        shadow_switch.sync()
        guard.log.event("shadow_changed", actor=actor, version=version)
        return jsonify(shadow_version=version)

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
        if runtime is not None and not runtime.reachable():
            raise NotReady("the database does not answer")
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
        return inference_answer(version)

    spec = openapi_spec(settings.model_name, list(service.feature_names), len(service.class_names))

    @blueprint.get("/openapi.json")
    def openapi() -> Response:
        return jsonify(spec)

    @blueprint.get("/metrics")
    def metrics() -> Response:
        return Response(generate_latest(registry), content_type=CONTENT_TYPE_LATEST)

    return blueprint
