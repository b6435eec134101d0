"""What the controller decides on, read from the shared log: no decisions here."""

from __future__ import annotations

import json

from mlops_pipeline.delivery.controller import Evidence
from mlops_pipeline.storage import Storage
from mlops_pipeline.storage.records import EpochCount, Rollout

LATENCY_SAMPLES = 2000  # the candidate's newest requests in the step, for its p99


def collect(storage: Storage, rollout: Rollout, step_weights: dict[str, float]) -> Evidence:
    """Per split and version since the rollout started: routed requests, labels, failures; the
    candidate's latencies in the current step; whether the monitor's drift report alarms."""
    first, after = rollout.first_weights_version, rollout.first_log_id
    requests = storage.predictions.requests_by_epoch(after, first)
    labels = storage.labels.labels_by_epoch(after, first, rollout.started_at)
    failures = storage.failures.by_epoch(first)
    keys = set(requests) | set(labels) | set(failures)
    epochs = [
        EpochCount(
            weights_version,
            version,
            requests.get((weights_version, version), 0),
            labels.get((weights_version, version), (0, 0))[0],
            labels.get((weights_version, version), (0, 0))[1],
            failures.get((weights_version, version), 0),
        )
        for weights_version, version in sorted(keys)
        if version in (rollout.candidate, rollout.baseline)
    ]
    latencies = storage.predictions.epoch_latencies(
        after, rollout.candidate, rollout.step_weights_version, LATENCY_SAMPLES
    )
    return Evidence(
        epochs,
        rollout.step_weights_version,
        step_weights,
        [float(x) for x in latencies],
        drift_alarm=_drift_alarm(storage),
    )


def _drift_alarm(storage: Storage) -> bool:
    report = storage.reports.load("drift")
    if report is None:
        return False
    try:
        return bool(json.loads(report.body).get("status") == "drift")
    except ValueError:
        return False
