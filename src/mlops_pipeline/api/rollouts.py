"""Rollout routes: start and abort (admin), read the current one and the history (anyone;
who acted only for admins, and a wrong token is refused as on admin routes)."""

from __future__ import annotations

from collections.abc import Callable

from flask import Blueprint, Response, jsonify, request

from mlops_pipeline.api.auth import Guard, Role
from mlops_pipeline.api.bodies import int_parameter, read_json
from mlops_pipeline.delivery.service import RolloutService, RolloutView
from mlops_pipeline.errors import ExperimentUnavailable, NoRollout
from mlops_pipeline.rollout_plan import THOMPSON


def build_rollout_blueprint(
    rollouts: RolloutService | None,
    guard: Guard,
    max_bytes: int,
    after_change: Callable[[], None],
) -> Blueprint:
    """``after_change``: adopt the stored split at once in this process (the others sync)."""
    blueprint = Blueprint("rollouts", __name__)

    def service() -> RolloutService:
        if rollouts is None:
            raise ExperimentUnavailable("rollouts need the prediction log (MLOPS_LOG_PREDICTIONS)")
        return rollouts

    @blueprint.post("/rollouts")
    def start() -> tuple[Response, int]:
        actor = guard.require(Role.ADMIN)
        rollout = service().start(read_json(request.environ, max_bytes), actor)
        after_change()
        guard.log.event("rollout_started", actor=actor, rollout_id=rollout.id,
                        candidate=rollout.candidate, baseline=rollout.baseline)  # fmt: skip
        return jsonify(rollout_json(service().view(rollout), reveal_actor=True)), 201

    @blueprint.get("/rollouts/current")
    def current() -> Response:
        admin = guard.admin_view()  # first: a wrong token is refused even with no rollout
        rollout = service().running()
        if rollout is None:
            raise NoRollout("no rollout is running (GET /rollouts lists finished ones)")
        return jsonify(rollout_json(service().view(rollout), admin))

    @blueprint.post("/rollouts/current/abort")
    def abort() -> Response:
        actor = guard.require(Role.ADMIN)
        rollout = service().abort(actor)
        after_change()
        guard.log.event("rollout_aborted", actor=actor, rollout_id=rollout.id)
        return jsonify(rollout_json(service().view(rollout), reveal_actor=True))

    @blueprint.get("/rollouts")
    def history() -> Response:
        admin = guard.admin_view()
        limit = int_parameter("limit", default=20, low=1, high=200)
        bodies = [rollout_json(service().view(r), admin) for r in service().history(limit)]
        return jsonify(rollouts=bodies)

    return blueprint


def rollout_json(view: RolloutView, reveal_actor: bool) -> dict[str, object]:
    """A rollout as the rollout routes answer it; who started it only for admins (names and
    addresses); a running one also shows the split routed now."""
    rollout, plan = view.rollout, view.rollout.plan
    body: dict[str, object] = {
        "id": rollout.id,
        "candidate": rollout.candidate,
        "baseline": rollout.baseline,
        "state": rollout.state,
        "policy": plan.policy,
        "step": rollout.step,
        "step_share": plan.steps[rollout.step] if plan.policy != THOMPSON else None,
        "plan": plan.to_json(),
        "weights_before": rollout.weights_before,
        "started_at": rollout.started_at,
        "step_started_at": rollout.step_started_at,
        "ended_at": rollout.ended_at,
        "reason": rollout.reason,
        "actor": rollout.actor if reveal_actor else None,
        "evidence": rollout.last_evidence,
        "events": [
            {
                "at": e.at,
                "event": e.event,
                "state": e.state,
                "step": e.step,
                "weights": e.weights,
                "reason": e.reason,
            }
            for e in view.events
        ],
    }
    if view.weights is not None:
        body["weights"] = view.weights
    return body
