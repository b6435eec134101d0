"""The monitor's Alertmanager webhook (its HTTP side): a firing DriftDetected queues a retrain.

Off unless MLOPS_RETRAIN_ON_DRIFT says what to do and MLOPS_RETRAIN_WEBHOOK_TOKEN is set (an empty
setting disables, never opens). Rate-limited (MLOPS_RETRAIN_MIN_INTERVAL_SECONDS between runs an
alert starts; Alertmanager repeats a firing alert every few hours) and audited: every accepted
alert is a run in ``retrain_runs`` with trigger ``drift-alert``; every refusal is a log line.
The answer is 2xx whenever the request was understood, or Alertmanager would retry it.
"""

from __future__ import annotations

import hmac
import json
import logging
import time
from collections.abc import Callable
from typing import Any

from mlops_pipeline.protocol.client_errors import error_fields
from mlops_pipeline.storage.retrains import RetrainBusy, RetrainStore

logger = logging.getLogger(__name__)
ALERT = "DriftDetected"
TRIGGER = "drift-alert"
MAX_BODY = 1024 * 1024
Answer = tuple[int, dict[str, Any]]


class DriftWebhook:
    def __init__(
        self,
        runs: RetrainStore,
        mode: str,
        token: str,
        min_interval: float,
        clock: Callable[[], float] = time.time,
    ) -> None:
        if mode not in ("register", "rollout") or not token:
            raise ValueError("the drift webhook needs a mode and a token")
        self._runs = runs
        self._rollout = mode == "rollout"
        self._token = f"Bearer {token}".encode()
        self._min_interval = min_interval
        self._clock = clock

    def authorized(self, authorization: str | None) -> bool:
        """Checked before the body is read: an unauthenticated caller cannot make the monitor
        wait for a slow megabyte."""
        presented = (authorization or "").encode("utf-8", "replace")
        if hmac.compare_digest(presented, self._token):
            return True
        logger.warning("alert webhook: refused a call without the right bearer token")
        return False

    def handle(self, authorization: str | None, body: bytes) -> Answer:
        if not self.authorized(authorization):
            return 401, error_fields("unauthorized", "a valid bearer token is required")
        if len(body) > MAX_BODY:
            return 413, error_fields("payload_too_large", "body too large")
        try:
            payload = json.loads(body)
        except (ValueError, UnicodeDecodeError):
            return 400, error_fields("invalid_json", "the body is not JSON")
        except RecursionError:  # [[[…]]] thousands deep: the client's mistake, not a 500
            return 400, error_fields("invalid_json", "the body is nested too deeply")
        alerts = payload.get("alerts") if isinstance(payload, dict) else None
        if not isinstance(alerts, list):
            error = "not an Alertmanager webhook: no alerts list"
            return 400, error_fields("bad_request", error)
        firing = [
            alert
            for alert in alerts
            if isinstance(alert, dict)
            and alert.get("status") == "firing"
            and isinstance(alert.get("labels"), dict)
            and alert["labels"].get("alertname") == ALERT
        ]
        if not firing:
            return 200, {"queued": False, "reason": f"no firing {ALERT} alert"}
        now = self._clock()
        last = self._runs.last_requested(TRIGGER)
        if last is not None and now - last < self._min_interval:
            wait = self._min_interval - (now - last)
            logger.warning("drift alert: retrain not queued, rate limit (%.0f s left)", wait)
            return 200, {"queued": False, "reason": f"rate limited: next in {wait:.0f} s"}
        starts = str(firing[0].get("startsAt", ""))[:40]
        try:
            run = self._runs.open(TRIGGER, "alertmanager", None, self._rollout, None, now)
        except RetrainBusy:
            logger.warning("drift alert: retrain not queued, another run is open")
            return 200, {"queued": False, "reason": "a retraining run is already open"}
        logger.warning("drift alert (firing since %s): retraining run %d queued", starts, run.id)
        return 202, {"queued": True, "run_id": run.id}
