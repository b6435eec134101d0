"""Small assertions shared by test modules."""

from __future__ import annotations

from prometheus_client import CollectorRegistry

SETOSA_ROW = [5.1, 3.5, 1.4, 0.2]
# Tokens of the `settings` fixture (16 characters or more, as servers require).
ADMIN_TOKEN = "test-admin-token"
FEEDBACK_TOKEN = "test-feedback-token"
ADMIN = {"Authorization": f"Bearer {ADMIN_TOKEN}"}
FEEDBACK = {"Authorization": f"Bearer {FEEDBACK_TOKEN}"}
JSON = "application/json"


def sample(registry: CollectorRegistry, name: str, **labels: str) -> float:
    """A sample's value, 0 when the series does not exist yet."""
    value = registry.get_sample_value(name, labels)
    return 0.0 if value is None else value
