"""Small assertions shared by test modules."""

from __future__ import annotations

import os
import shutil
import sys
from pathlib import Path

import pytest
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


def require_tool(name: str, *extra_dirs: str) -> str:
    """A command on PATH, in this venv or in ``extra_dirs``: skipped here when missing, a failure
    in CI (.ci/run and the dev extras install every one)."""
    search = os.pathsep.join([str(Path(sys.executable).parent), *extra_dirs])
    path = shutil.which(name) or shutil.which(name, path=search)
    if path is None:
        if os.environ.get("CI"):
            pytest.fail(f"{name} missing in CI: .ci/run and the dev extras install it")
        pytest.skip(f"{name} not installed")
    return path


# The shipped catalogue plus a v3 (weight 0) to train as a candidate with `--only v3`.
V3_CATALOGUE = """\
seed = 42
test_size = 0.2

[[versions]]
name = "v1"
algorithm = "random_forest"
weight = 0.5
params = { n_estimators = 50 }

[[versions]]
name = "v2"
algorithm = "random_forest"
weight = 0.5
params = { n_estimators = 100 }

[[versions]]
name = "v3"
algorithm = "random_forest"
weight = 0
params = { n_estimators = 20, max_depth = 2 }
"""
