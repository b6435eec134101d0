from __future__ import annotations

import random
from collections import Counter
from collections.abc import Iterable

import pytest

from mlops_pipeline.serving.routing import ABRouter, user_bucket


class ScriptedRandom(random.Random):
    """random() returns the given values in order: the split is then checkable by hand."""

    def __init__(self, values: Iterable[float]) -> None:
        super().__init__(0)
        self._values = iter(values)

    def random(self) -> float:
        return next(self._values)


def test_weighted_split_follows_cumulative_ranges() -> None:
    # Ranges: v1 [0, 0.2), v2 [0.2, 0.5), v3 [0.5, 1).
    draws = [0.0, 0.1999, 0.2, 0.4999, 0.5, 0.9999]
    router = ABRouter({"v1": 0.2, "v2": 0.3, "v3": 0.5}, ScriptedRandom(draws))
    assert [router.choose() for _ in draws] == ["v1", "v1", "v2", "v2", "v3", "v3"]


def test_diagram_7_fifty_fifty() -> None:
    # Diagram 7: a number 1-100; 1-50 -> v1, 51-100 -> v2. Here draws are (n - 0.5) / 100.
    draws = [(n - 0.5) / 100 for n in (1, 50, 51, 100)]
    router = ABRouter({"v1": 1, "v2": 1}, ScriptedRandom(draws))
    assert [router.choose() for _ in draws] == ["v1", "v1", "v2", "v2"]


def test_zero_weight_version_never_chosen() -> None:
    router = ABRouter({"v1": 0.0, "v2": 1.0}, ScriptedRandom([0.0, 0.5]))
    assert [router.choose(), router.choose()] == ["v2", "v2"]
    assert router.choose("alice") == "v2"


def test_seeded_split_over_many_requests_matches_weights() -> None:
    router = ABRouter({"v1": 0.3, "v2": 0.7}, random.Random(1))
    counts = Counter(router.choose() for _ in range(20_000))
    # Binomial sd = sqrt(20000 * 0.3 * 0.7) ~ 65; allow 4 sd.
    assert abs(counts["v1"] - 6_000) < 260


def test_user_bucket_is_a_fixed_function_of_the_id() -> None:
    # sha256("alice") starts 2bd806c97f0e00af; that 64-bit number mod 10000 is 207.
    assert user_bucket("alice") == 207
    assert user_bucket("bob") == 8650


def test_sticky_users_ignore_the_random_generator() -> None:
    first = ABRouter({"v1": 1, "v2": 1}, random.Random(1))
    second = ABRouter({"v1": 1, "v2": 1}, random.Random(2))
    users = [f"user-{n}" for n in range(200)]
    assert [first.choose(u) for u in users] == [second.choose(u) for u in users]
    # alice: bucket 207 -> point 0.02075 -> v1; bob: bucket 8650 -> 0.86505 -> v2.
    assert first.choose("alice") == "v1"
    assert first.choose("bob") == "v2"


def test_split_over_many_users_follows_weights() -> None:
    router = ABRouter({"v1": 0.25, "v2": 0.75}, random.Random(0))
    counts = Counter(router.choose(f"user-{n}") for n in range(20_000))
    assert abs(counts["v1"] - 5_000) < 4 * (20_000 * 0.25 * 0.75) ** 0.5


def test_weight_change_moves_only_users_whose_bucket_changes_owner() -> None:
    router = ABRouter({"v1": 0.5, "v2": 0.5}, random.Random(0))
    users = [f"user-{n}" for n in range(10_000)]
    before = {u: router.choose(u) for u in users}
    router.set_weights({"v1": 0.2, "v2": 0.8})
    after = {u: router.choose(u) for u in users}
    assert not [u for u in users if before[u] == "v2" and after[u] == "v1"]
    moved = sum(before[u] != after[u] for u in users)
    assert moved == pytest.approx(3_000, abs=4 * (10_000 * 0.3 * 0.7) ** 0.5)


def test_weights_are_normalised_and_reported() -> None:
    router = ABRouter({"v1": 1, "v2": 3}, random.Random(0))
    assert router.weights == {"v1": 0.25, "v2": 0.75}
    assert router.versions == ["v1", "v2"]


def test_invalid_weights_are_refused() -> None:
    with pytest.raises(ValueError, match="at least one weight must be positive"):
        ABRouter({"v1": 0, "v2": 0}, random.Random(0))
