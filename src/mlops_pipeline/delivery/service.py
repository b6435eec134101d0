"""Rollouts: start, abort, read, and the controller's tick that applies its decisions.

The API starts and aborts; `mlops monitor`'s leader ticks. Every transition changes the stored
split and appends an audit event in one transaction, counts in the metrics and writes a JSON log
event; replicas adopt the split as they adopt any other (MLOPS_WEIGHTS_SYNC_SECONDS).
"""

from __future__ import annotations

import logging
import random
import time
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

from mlops_pipeline.delivery.controller import decide
from mlops_pipeline.delivery.decision import HOLD
from mlops_pipeline.delivery.evidence import collect
from mlops_pipeline.errors import NoRollout, RolloutConflict, UnknownVersion
from mlops_pipeline.monitoring.metrics import Metrics
from mlops_pipeline.rollout_plan import THOMPSON, parse_plan
from mlops_pipeline.storage import Storage
from mlops_pipeline.storage.records import Rollout, RolloutEvent
from mlops_pipeline.storage.rollouts import RUNNING, RolloutRunning
from mlops_pipeline.storage.weights import VersionRetired
from mlops_pipeline.telemetry.tracing import span

logger = logging.getLogger(__name__)
ABORTED = "aborted"
FINAL_STATES = {"promote": "promoted", "rolled_back": "rolled_back"}


@dataclass(frozen=True)
class RolloutView:
    """A rollout with what is shown beside it: its audit trail (oldest first) and, while it
    runs, the split this process routes under."""

    rollout: Rollout
    events: list[RolloutEvent]
    weights: dict[str, float] | None


class RolloutService:
    def __init__(
        self,
        storage: Storage,
        versions: Callable[[], list[str]],
        current_weights: Callable[[], dict[str, float]],
        metrics: Metrics | None,
        log: Callable[[dict[str, object]], None] | None = None,
        publish_gauges: bool = True,
        clock: Callable[[], float] = time.time,
        rng: random.Random | None = None,
    ) -> None:
        self._storage = storage
        self._versions = versions
        self._weights = current_weights
        self._metrics = metrics
        # Transitions are counted wherever they happen (an API worker starts and aborts); the
        # state gauges come from the monitor's leader only, as every other monitor gauge.
        self._gauges = metrics if publish_gauges else None
        self._log = log
        self._clock = clock
        self._rng = rng or random.Random()

    # --- what the API does -------------------------------------------------------------------

    def start(self, payload: Any, actor: str) -> Rollout:
        plan = parse_plan(payload, self._versions())
        first = plan.step_weights(0) if plan.policy != THOMPSON else plan.split(plan.floor)
        reason = f"started: {plan.candidate} at {first[plan.candidate]:.0%} against {plan.baseline}"
        newest = self._storage.predictions.newest_id(0) or 0
        try:
            rollout = self._storage.rollouts.start(
                plan.candidate, plan.baseline, plan, first, self._weights(),
                reason, actor, self._clock(), newest,
            )  # fmt: skip
        except RolloutRunning:
            raise RolloutConflict("a rollout is already running; abort it first") from None
        except VersionRetired as exc:  # retired since this replica last polled the catalogue
            raise UnknownVersion(str(exc)) from None
        self._published(rollout, "started", reason)
        return rollout

    def abort(self, actor: str) -> Rollout:
        rollout = self._storage.rollouts.current()
        if rollout is None:
            raise NoRollout("no rollout is running")
        restored = self.restored_weights(rollout, rolled_back=False)
        reason = f"aborted; weights restored to {restored}"
        if not self._storage.rollouts.transition(
            rollout, ABORTED, ABORTED, rollout.step, restored, reason, self._clock(), actor
        ):
            raise NoRollout("the rollout finished meanwhile")
        finished = self._storage.rollouts.get(rollout.id)
        assert finished is not None
        self._published(finished, ABORTED, reason)
        return finished

    def abort_if_running(self, actor: str) -> Rollout | None:
        """Abort the running rollout, if one still runs; None when it ended (or was aborted)
        meanwhile: a caller replacing the split wants it stopped, whoever stopped it."""
        try:
            return self.abort(actor)
        except NoRollout:
            return None

    def restored_weights(self, rollout: Rollout, rolled_back: bool) -> dict[str, float]:
        """The split from before the rollout, for the versions still served; after a rollback
        the candidate's old share goes to the baseline (it just failed its evidence)."""
        served = set(self._versions())
        weights = {v: w for v, w in rollout.weights_before.items() if v in served and w > 0}
        if rolled_back:
            share = weights.pop(rollout.candidate, 0.0)
            weights[rollout.baseline] = weights.get(rollout.baseline, 0.0) + share
        total = sum(weights.values())
        if total <= 0:
            return {rollout.baseline: 1.0}
        return {version: round(w / total, 12) for version, w in weights.items()}

    def running(self) -> Rollout | None:
        return self._storage.rollouts.current()

    def view(self, rollout: Rollout) -> RolloutView:
        weights = self._weights() if rollout.state == RUNNING else None
        return RolloutView(rollout, self._storage.rollouts.events(rollout.id), weights)

    def history(self, limit: int) -> list[Rollout]:
        return self._storage.rollouts.history(limit)

    # --- what the monitor's leader does -------------------------------------------------------

    def tick(self) -> dict[str, object] | None:
        """Decide on the running rollout and apply the decision; the decision as it is kept."""
        rollout = self._storage.rollouts.current()
        if rollout is None:
            latest = self._storage.rollouts.latest()
            if self._metrics is not None:
                self._metrics.set_rollout(
                    latest.state if latest else None, latest.step if latest else -1
                )
            return None
        plan = rollout.plan
        weights = self._weights()
        share = weights.get(plan.candidate, 0.0)
        step_weights = {plan.candidate: share, plan.baseline: weights.get(plan.baseline, 0.0)}
        with span("rollout.decide", {"mlops.rollout_id": rollout.id}) as deciding:
            evidence = collect(self._storage, rollout, step_weights)
            now = self._clock()
            decision = decide(
                plan, rollout.step, (now - rollout.step_started_at) / 60, share, evidence, self._rng
            )
            deciding.set_attribute("mlops.rollout.action", decision.action)
            deciding.set_attribute("mlops.rollout.step", rollout.step)
        record = decision.record()
        if decision.action == HOLD:
            self._storage.rollouts.note(rollout, decision.reason, record)
            if self._gauges is not None:
                self._gauges.set_rollout(RUNNING, rollout.step)
            return record
        if decision.weights is not None:
            target = decision.weights
        else:
            target = self.restored_weights(rollout, rolled_back=True)
        state = FINAL_STATES.get(decision.action, RUNNING)
        if self._storage.rollouts.transition(
            rollout, decision.action, state, decision.step, target, decision.reason, now,
            evidence=record,
        ):  # fmt: skip
            updated = self._storage.rollouts.get(rollout.id)
            assert updated is not None
            self._published(updated, decision.action, decision.reason)
        return record

    def _published(self, rollout: Rollout, event: str, reason: str) -> None:
        if self._metrics is not None:
            self._metrics.count_rollout_transition(event)
        if self._gauges is not None:
            self._gauges.set_rollout(rollout.state, rollout.step)
        logger.warning("rollout %s %s: %s", rollout.id, event, reason)
        if self._log is not None:
            self._log({"event": "rollout", "rollout_id": rollout.id, "transition": event,
                       "state": rollout.state, "step": rollout.step,
                       "candidate": rollout.candidate, "reason": reason})  # fmt: skip
