"""Retraining routes: queue a run (admin), list runs (anyone; who asked only for admins).

The API only queues: the leading `mlops monitor` claims the run within seconds and trains it
(scikit-learn never runs in an API worker).
"""

from __future__ import annotations

import math
from typing import Any

from flask import Blueprint, Response, jsonify, request

from mlops_pipeline.api.auth import Guard, Role
from mlops_pipeline.api.bodies import int_parameter, read_json
from mlops_pipeline.catalogue import version_name_problem
from mlops_pipeline.errors import (
    ExperimentUnavailable,
    InvalidRetrain,
    RetrainConflict,
)
from mlops_pipeline.retraining.queue import FAILED, RetrainBusy, RetrainQueue, RetrainRun

FIELDS = {"version", "since_days", "rollout"}


def build_retrain_blueprint(runs: RetrainQueue | None, guard: Guard, max_bytes: int) -> Blueprint:
    blueprint = Blueprint("retrains", __name__)

    def retrains() -> RetrainQueue:
        if runs is None:
            raise ExperimentUnavailable(
                "retraining needs the prediction log (MLOPS_LOG_PREDICTIONS)"
            )
        return runs

    @blueprint.post("/retrains")
    def queue() -> tuple[Response, int]:
        actor = guard.require(Role.ADMIN)
        version, since_days, rollout = parse_request(read_json(request.environ, max_bytes))
        try:
            run = retrains().queue(actor, version, rollout, since_days)
        except RetrainBusy as exc:
            raise RetrainConflict(f"{exc}; GET /retrains shows it") from None
        guard.log.event("retrain_queued", actor=actor, run_id=run.id, version=version)
        return jsonify(describe(run, reveal_actor=True)), 202

    @blueprint.get("/retrains")
    def history() -> Response:
        admin = guard.admin_view()
        limit = int_parameter("limit", default=20, low=1, high=200)
        return jsonify(retrains=[describe(run, admin) for run in retrains().recent(limit)])

    return blueprint


def parse_request(body: Any) -> tuple[str | None, float | None, bool]:
    """(version or None for the next vN, days of labels or None for all, start a rollout)."""
    if not isinstance(body, dict):
        raise InvalidRetrain("the body must be a JSON object")
    unknown = sorted(set(body) - FIELDS)
    if unknown:
        named = [str(key)[:40] for key in unknown[:5]]
        raise InvalidRetrain(f"unknown fields {named}; known: {sorted(FIELDS)}")
    version = body.get("version")
    problem = None if version is None else version_name_problem(version, "version")
    if problem is not None:
        raise InvalidRetrain(problem)
    since = body.get("since_days")
    if since is not None and (
        isinstance(since, bool)
        or not isinstance(since, int | float)
        or not math.isfinite(since)
        or not 0 < since <= 3_650
    ):
        raise InvalidRetrain("since_days must be a number of days from 0 (excluded) to 3650")
    rollout = body.get("rollout", False)
    if not isinstance(rollout, bool):
        raise InvalidRetrain("rollout must be true or false")
    return version, None if since is None else float(since), rollout


def describe(run: RetrainRun, reveal_actor: bool) -> dict[str, Any]:
    # A failure's message is an exception's text (paths, hosts): for admins only.
    hidden = run.status == FAILED and not reveal_actor
    return {
        "id": run.id,
        "status": run.status,
        "trigger": run.trigger,
        "actor": run.actor if reveal_actor else None,
        "version": run.version,
        "rollout": run.rollout,
        "since_days": run.since_days,
        "requested_at": run.requested_at,
        "started_at": run.started_at,
        "finished_at": run.finished_at,
        "message": "failed (details: admin)" if hidden else run.message,
        "result": run.result,
    }
