"""Which data drift is measured against: the champion's own training data.

The served artifacts' training statistics are the reference while a trained version holds the
most traffic. Once a registered version does (a retrained candidate promoted), its stored
reference takes over: drift compares the traffic with what the champion learnt, so the alarm
that asked for the retrain resolves once the answer to it is serving, and fires again if the
traffic moves away from that.
"""

from __future__ import annotations

import logging
from collections.abc import Callable

from mlops_pipeline.monitoring.drift import Reference
from mlops_pipeline.monitoring.typed_reference import TypedReference
from mlops_pipeline.storage.models import ModelStore

logger = logging.getLogger(__name__)
TRAINED = "training data"  # the label of the served artifacts' reference


class ChampionReference:
    def __init__(
        self,
        trained: Reference | TypedReference,
        trained_versions: set[str],
        models: ModelStore,
        weights: Callable[[], dict[str, float]],
    ) -> None:
        self._trained = trained
        self._trained_versions = trained_versions
        self._models = models
        self._weights = weights
        self._loaded: dict[str, Reference | TypedReference | None] = {}
        self._current = TRAINED

    def __call__(self) -> tuple[str, Reference | TypedReference]:
        """(label, reference): the champion's name, or TRAINED for the artifacts' data."""
        weights = self._weights()
        champion = sorted(weights, key=lambda v: (-weights[v], v))[0] if weights else None
        label, reference = TRAINED, self._trained
        if champion is not None and champion not in self._trained_versions:
            found = self._load(champion)
            if found is not None:
                label, reference = champion, found
        if label != self._current:
            logger.warning("drift is now measured against the data of %s", label)
            self._current = label
        return label, reference

    def _load(self, version: str) -> Reference | TypedReference | None:
        if version not in self._loaded:
            stats = self._models.reference(version)
            # The champion's reference is of the served kind: the schema is shared by versions.
            kind = type(self._trained)
            try:
                loaded = None if stats is None else kind.from_training_stats(stats)
            except (KeyError, TypeError, ValueError) as exc:
                logger.error("%s's stored drift reference is unusable: %s", version, exc)
                loaded = None
            if loaded is not None and loaded.feature_names != self._trained.feature_names:
                logger.error("%s's drift reference has other features; not used", version)
                loaded = None
            self._loaded[version] = loaded
        return self._loaded[version]
