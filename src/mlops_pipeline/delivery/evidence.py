"""What the controller decides on, read from the shared log: no decisions here."""

from __future__ import annotations

import json

from mlops_pipeline.delivery.decision import Evidence
from mlops_pipeline.protocol.clients import newest_per_client
from mlops_pipeline.storage import Storage
from mlops_pipeline.storage.records import EpochCount, Rollout

LATENCY_SAMPLES = 2000  # the candidate's newest requests in the step, for its p99
# One client's share of those samples: past it, older requests of other clients are read, so one
# caller's traffic (say, concurrent 10,000-row batches) cannot make up the p99 alone.
MAX_CLIENT_SHARE = 0.1


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
    return Evidence(
        epochs,
        rollout.step_weights_version,
        step_weights,
        candidate_latencies(storage, rollout),
        drift_alarm=_drift_alarm(storage),
        step_units=storage.predictions.units_by_version(after, rollout.step_weights_version),
    )


def candidate_latencies(storage: Storage, rollout: Rollout) -> list[float]:
    """The candidate's latency per predicted row (a request's latency over its rows) in the
    current step, each client capped at MAX_CLIENT_SHARE of LATENCY_SAMPLES.

    Per row, because batches of different sizes are not one distribution: a 10,000-row batch
    taking 78 ms is fast (8 us a row), not a breach of a 50 ms limit meant for a request.
    """
    samples = storage.predictions.epoch_latency_samples(
        rollout.first_log_id,
        rollout.candidate,
        rollout.step_weights_version,
        round(LATENCY_SAMPLES / MAX_CLIENT_SHARE),
    )
    samples.reverse()  # oldest first, as newest_per_client takes them
    cap = round(LATENCY_SAMPLES * MAX_CLIENT_SHARE)
    kept = newest_per_client([client for _, _, client in samples], LATENCY_SAMPLES, cap)
    return [samples[i][0] / max(samples[i][1], 1) for i in kept]


def _drift_alarm(storage: Storage) -> bool:
    report = storage.reports.load("drift")
    if report is None:
        return False
    try:
        return bool(json.loads(report.body).get("status") == "drift")
    except ValueError:
        return False
