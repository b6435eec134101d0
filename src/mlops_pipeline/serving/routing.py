"""A/B router: weighted random split, sticky by user id when one is given."""

from __future__ import annotations

import bisect
import hashlib
import random
from collections.abc import Mapping

from mlops_pipeline.catalogue import normalise_weights

# Sticky users are hashed into this many buckets; each version owns a contiguous range of them,
# so a weight change moves only the users in the buckets that change owner.
BUCKETS = 10_000


def user_bucket(user_id: str) -> int:
    """Stable across processes and restarts (unlike ``hash()``, which is salted per process)."""
    digest = hashlib.sha256(user_id.encode("utf-8")).digest()
    return int.from_bytes(digest[:8], "big") % BUCKETS


class ABRouter:
    def __init__(self, weights: Mapping[str, float], rng: random.Random) -> None:
        self._rng = rng
        # The stored split's version this router applies; 0 = the configured default. Every
        # logged row records it, so a replica serving an old split shows in the log.
        self.version = 0
        self.set_weights(weights)

    @property
    def weights(self) -> dict[str, float]:
        return dict(self._weights)

    @property
    def versions(self) -> list[str]:
        return list(self._weights)

    def set_weights(self, weights: Mapping[str, float], version: int | None = None) -> None:
        if version is not None:
            self.version = version
        self._weights = normalise_weights(weights)
        self._names = list(self._weights)
        running, bounds = 0.0, []
        for weight in self._weights.values():
            running += weight
            bounds.append(running)
        bounds[-1] = 1.0  # guard against float round-off leaving a gap at the top
        self._upper_bounds = bounds

    def choose(self, user_id: str | None = None) -> str:
        point = self._rng.random() if user_id is None else (user_bucket(user_id) + 0.5) / BUCKETS
        return self._version_at(point)

    def _version_at(self, point: float) -> str:
        index = bisect.bisect_right(self._upper_bounds, point)
        # A version with weight 0 has an empty range; bisect never lands on it.
        return self._names[min(index, len(self._names) - 1)]
