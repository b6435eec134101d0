"""Routes: parse, delegate to the services, serialize. No business logic here.

Handlers close over their collaborators instead of looking them up through ``current_app``:
each context-local lookup costs about as much as the model itself on the /predict path.
Each area's routes are added by a function of its own; ``build_blueprint`` calls them in turn.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

from flask import Blueprint, Response, jsonify, request
from prometheus_client import CONTENT_TYPE_LATEST, CollectorRegistry, generate_latest

from mlops_pipeline.api.auth import Guard, Role
from mlops_pipeline.api.bodies import int_parameter, read_json
from mlops_pipeline.api.inference import MODEL_VERSION, InferenceEndpoints
from mlops_pipeline.api.openapi import openapi_spec
from mlops_pipeline.api.typed_inference import inference_endpoints
from mlops_pipeline.components import Components
from mlops_pipeline.config import Settings
from mlops_pipeline.errors import (
    DriftUnavailable,
    ExperimentUnavailable,
    NotReady,
    RolloutConflict,
    UnknownVersion,
)
from mlops_pipeline.experiment.service import ExperimentService, RolloutControlsWeights
from mlops_pipeline.protocol.v2 import check_model, model_metadata
from mlops_pipeline.schema.v2_inputs import model_metadata_inputs
from mlops_pipeline.serving.typed_requests import typed_schema
from mlops_pipeline.serving.validation import (
    parse_feedback,
    parse_weights,
)

MAX_LOG_LIMIT = 1_000


def build_blueprint(
    settings: Settings,
    components: Components,
    registry: CollectorRegistry,
    guard: Guard,
    endpoints: InferenceEndpoints | None = None,
) -> Blueprint:
    blueprint = Blueprint("api", __name__)
    endpoints = endpoints or inference_endpoints(settings, components.service)

    def json_body() -> Any:
        return read_json(request.environ, settings.max_body_bytes)

    def inference_answer(version: str | None = None) -> Response:
        # Normally answered by FastPath before Flask sees the request; the same code either way.
        answer = endpoints.answer(request.environ, version)
        if answer.model_version is not None:
            request.environ[MODEL_VERSION] = answer.model_version
        return Response(answer.body, answer.status, headers=answer.headers())

    @blueprint.post("/predict")
    def predict() -> Response:
        return inference_answer()

    add_service_routes(blueprint, components, guard)
    add_report_routes(blueprint, settings, components)
    add_control_routes(blueprint, components, guard, json_body)
    add_shadow_route(blueprint, components, guard, json_body)
    add_v2_routes(blueprint, settings, components, inference_answer)
    add_document_routes(blueprint, settings, components, registry)
    return blueprint


def add_service_routes(blueprint: Blueprint, components: Components, guard: Guard) -> None:
    """Liveness, readiness and what is served."""
    service = components.service

    @blueprint.get("/health")
    def health() -> Response:
        # Liveness: this process answers. Never the database: an outage is no reason to restart.
        return jsonify(status="ok")

    @blueprint.get("/ready")
    def ready() -> Response:
        if not service.ready:
            raise NotReady("models are not loaded")
        if not components.database_answers():
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


def experiment_of(components: Components) -> ExperimentService:
    if components.experiment is None:
        raise ExperimentUnavailable("experiments need the prediction log (MLOPS_LOG_PREDICTIONS)")
    return components.experiment


def add_report_routes(blueprint: Blueprint, settings: Settings, components: Components) -> None:
    """Drift and the experiment: the leader monitor's report while fresh, else this replica's."""

    def monitor_report(name: str) -> Response | None:
        """The leader monitor's report, byte for byte the same on every replica, while fresh.

        Without a fresh one (no monitor running, as in a single process) the replica computes.
        """
        body = components.reports.current(name) if components.reports is not None else None
        return None if body is None else Response(body, mimetype="application/json")

    @blueprint.get("/drift")
    def drift() -> Response:
        monitor = components.monitor
        if monitor is None:
            raise DriftUnavailable(
                "drift detection needs the prediction log (MLOPS_LOG_PREDICTIONS)"
            )
        stored = monitor_report("drift")
        if stored is not None:
            return stored
        latest = monitor.latest(max_age_seconds=settings.drift_interval_seconds)
        return jsonify({**latest.to_json(), "source": "replica"})

    @blueprint.get("/experiment")
    def experiment_report() -> Response:
        experiment = experiment_of(components)
        stored = monitor_report("experiment")
        if stored is not None:
            return stored
        return jsonify({**experiment.report().to_json(), "source": "replica"})


def add_control_routes(
    blueprint: Blueprint, components: Components, guard: Guard, json_body: Callable[[], Any]
) -> None:
    """What people change at run time: labels and the split."""
    service = components.service

    @blueprint.post("/feedback")
    def feedback() -> Response:
        guard.require(Role.FEEDBACK)
        payload = json_body()
        results = experiment_of(components).record_feedback(
            parse_feedback(payload, service.class_names)
        )
        return jsonify(results if isinstance(payload, list) else results[0])

    @blueprint.put("/config/weights")
    def change_weights() -> Response:
        actor = guard.require(Role.ADMIN)
        weights = parse_weights(json_body(), service.versions)

        def aborted(rollout_id: int) -> None:
            guard.log.event("rollout_aborted", actor=actor, rollout_id=rollout_id)

        try:
            old, new = experiment_of(components).change_weights(
                weights,
                actor,
                abort_rollout=request.args.get("abort_rollout") == "true",
                on_abort=aborted,
            )
        except RolloutControlsWeights:
            raise RolloutConflict(
                "a rollout controls the split; abort it (POST /rollouts/current/abort, or PUT"
                " with ?abort_rollout=true)"
            ) from None
        guard.log.event("weights_changed", actor=actor, old=old, new=new)
        return jsonify(weights=new)

    @blueprint.get("/config/history")
    def weight_history() -> Response:
        guard.require(Role.ADMIN)  # actors' names and addresses
        limit = int_parameter("limit", default=100, low=1, high=MAX_LOG_LIMIT)
        changes = experiment_of(components).history(limit)
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


def add_shadow_route(
    blueprint: Blueprint, components: Components, guard: Guard, json_body: Callable[[], Any]
) -> None:
    """Which served version scores every request in the background (or none)."""
    service = components.service

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
        if components.shadow_switch is None:
            raise ExperimentUnavailable("shadow scoring records to the prediction log: enable it")
        components.shadow_switch.set(version, actor)
        guard.log.event("shadow_changed", actor=actor, version=version)
        return jsonify(shadow_version=version)


def add_v2_routes(
    blueprint: Blueprint,
    settings: Settings,
    components: Components,
    inference_answer: Callable[[str | None], Response],
) -> None:
    """The Open Inference Protocol's REST face (its infer path shares /predict's code)."""
    service = components.service

    def known_model(name: str) -> None:
        check_model(name, settings.model_name)

    @blueprint.get("/v2/health/live")
    def v2_live() -> Response:
        return jsonify(live=True)

    @blueprint.get("/v2/health/ready")
    def v2_ready() -> Response:
        if not service.ready:
            raise NotReady("models are not loaded")
        if not components.database_answers():
            raise NotReady("the database does not answer")
        return jsonify(ready=True)

    @blueprint.get("/v2/models/<name>")
    def v2_metadata(name: str) -> Response:
        known_model(name)
        described = model_metadata(
            name, service.versions, len(service.feature_names), len(service.class_names)
        )
        schema = typed_schema(service.schema)
        if schema is not None:  # one named input per column instead of the float tensor
            described["inputs"] = model_metadata_inputs(schema)
        return jsonify(described)

    @blueprint.get("/v2/models/<name>/ready")
    def v2_model_ready(name: str) -> Response:
        known_model(name)
        return jsonify(name=name, ready=service.ready)

    @blueprint.post("/v2/models/<name>/infer")
    @blueprint.post("/v2/models/<name>/versions/<version>/infer")
    def v2_infer(name: str, version: str | None = None) -> Response:
        known_model(name)
        return inference_answer(version)


def add_document_routes(
    blueprint: Blueprint, settings: Settings, components: Components, registry: CollectorRegistry
) -> None:
    """The API's description and the Prometheus exposition."""
    service = components.service
    spec = openapi_spec(
        settings.model_name,
        list(service.feature_names),
        len(service.class_names),
        service.schema,
    )

    @blueprint.get("/openapi.json")
    def openapi() -> Response:
        return jsonify(spec)

    @blueprint.get("/metrics")
    def metrics() -> Response:
        return Response(generate_latest(registry), content_type=CONTENT_TYPE_LATEST)
