"""Every Prometheus metric the system exports: one ``Metrics`` object over five areas.

``serving``, ``drift``, ``experiment``, ``operations`` and ``delivery`` each declare their
families and the methods that record them; ``facade`` composes them in registration order;
``exposition`` serves multiprocess mode.
"""

from mlops_pipeline.monitoring.metrics.delivery import (
    RETRAIN_OUTCOMES,
    RETRAIN_TRIGGERS,
    ROLLOUT_EVENTS,
    ROLLOUT_STATES,
)
from mlops_pipeline.monitoring.metrics.exposition import exposition_registry, multiprocess_enabled
from mlops_pipeline.monitoring.metrics.facade import Metrics
from mlops_pipeline.monitoring.metrics.operations import PRUNE_REASONS
from mlops_pipeline.monitoring.metrics.serving import KNOWN_METHODS, LATENCY_BUCKETS, bounded_method

__all__ = [
    "KNOWN_METHODS",
    "LATENCY_BUCKETS",
    "PRUNE_REASONS",
    "RETRAIN_OUTCOMES",
    "RETRAIN_TRIGGERS",
    "ROLLOUT_EVENTS",
    "ROLLOUT_STATES",
    "Metrics",
    "bounded_method",
    "exposition_registry",
    "multiprocess_enabled",
]
