"""Delivery metrics: rollouts, retraining runs and the requests a model version failed."""

from __future__ import annotations

from prometheus_client import CollectorRegistry, Counter, Gauge

from mlops_pipeline.errors import FAILURE_REASONS

# Closed sets of label values: anything else is counted as "other".
ROLLOUT_STATES = ("running", "promoted", "rolled_back", "aborted")
ROLLOUT_EVENTS = ("started", "advance", "weights", "promote", "rolled_back", "aborted")
RETRAIN_TRIGGERS = ("cli", "api", "drift-alert")
RETRAIN_OUTCOMES = ("registered", "refused", "failed")


class DeliveryMetrics:
    def _add_delivery(self, registry: CollectorRegistry | None) -> None:
        """Rollouts, retraining and failing model versions."""
        self.rollout_step = Gauge(
            "mlops_rollout_step",
            "Step index of the newest rollout (-1: none yet).",
            registry=registry,
            multiprocess_mode="mostrecent",
        )
        self.rollout_state = Gauge(
            "mlops_rollout_state",
            "1 for the newest rollout's state (running, promoted, rolled_back, aborted).",
            ["state"],
            registry=registry,
            multiprocess_mode="mostrecent",
        )
        self.rollout_transitions = Counter(
            "mlops_rollout_transitions",
            "Rollout transitions, by event (started, advance, weights, promote, rolled_back,"
            " aborted).",
            ["event"],
            registry=registry,
        )
        self.retrain_runs = Counter(
            "mlops_retrain_runs",
            "Retraining runs the monitor finished, by trigger (api, drift-alert) and outcome"
            " (registered, refused, failed).",
            ["trigger", "outcome"],
            registry=registry,
        )
        # Every known series exported at 0 from the start: increase() over a range only sees
        # a counter's first event if the series existed (at 0) before it, so a dashboard's
        # "transitions in range" would otherwise read 0 for a rollout's first "started".
        for event in ROLLOUT_EVENTS:
            self.rollout_transitions.labels(event)
        for trigger in RETRAIN_TRIGGERS:
            for outcome in RETRAIN_OUTCOMES:
                self.retrain_runs.labels(trigger, outcome)
        self.model_failures = Counter(
            "mlops_model_failures",
            "Requests a model version failed to answer, by reason: an answer refused by the"
            " checks (outputs, shape, label, probabilities), the time budget (timeout) or an"
            " ONNX Runtime error (error).",
            ["model_version", "reason"],
            registry=registry,
        )

    def _initialise_failures(self, version: str) -> None:
        for reason in FAILURE_REASONS:
            self.model_failures.labels(version, reason)

    def count_model_failure(self, version: str, reason: str) -> None:
        self.model_failures.labels(version, reason).inc()

    def set_rollout(self, state: str | None, step: int) -> None:
        self.rollout_step.set(step)
        for known in ROLLOUT_STATES:
            self.rollout_state.labels(known).set(1 if known == state else 0)

    def count_rollout_transition(self, event: str) -> None:
        self.rollout_transitions.labels(event if event in ROLLOUT_EVENTS else "other").inc()

    def count_retrain(self, trigger: str, outcome: str) -> None:
        self.retrain_runs.labels(
            trigger if trigger in RETRAIN_TRIGGERS else "other",
            outcome if outcome in RETRAIN_OUTCOMES else "other",
        ).inc()
