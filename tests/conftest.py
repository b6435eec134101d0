"""Fixtures chain: artifacts -> settings -> registry/metrics -> service -> app -> client."""

from __future__ import annotations

import random
import shutil
from collections.abc import Iterator
from pathlib import Path

import pytest
from flask import Flask
from flask.testing import FlaskClient
from prometheus_client import CollectorRegistry

from mlops_pipeline.api import create_app
from mlops_pipeline.artifacts import ArtifactBundle, load_bundle
from mlops_pipeline.bootstrap import Components, build_components
from mlops_pipeline.config import Settings, database_url, load_catalogue
from mlops_pipeline.experiment.service import ExperimentService
from mlops_pipeline.monitoring.drift_monitor import DriftMonitor
from mlops_pipeline.monitoring.metrics import Metrics
from mlops_pipeline.protocol.access_log import AccessLog
from mlops_pipeline.serving.service import PredictionService
from mlops_pipeline.storage import Storage, open_storage
from mlops_pipeline.storage.schema import upgrade
from mlops_pipeline.training.data import Dataset, load_iris_dataset
from tests.support.helpers import ADMIN_TOKEN, FEEDBACK_TOKEN, V3_CATALOGUE


@pytest.fixture(scope="session")
def iris() -> Dataset:
    return load_iris_dataset()


@pytest.fixture(scope="session")
def artifacts_dir(tmp_path_factory: pytest.TempPathFactory, iris: Dataset) -> Path:
    from mlops_pipeline.training.trainer import train_all

    out = tmp_path_factory.mktemp("trained") / "artifacts"
    train_all(iris, load_catalogue(), out)
    return out


@pytest.fixture(scope="session")
def bundle(artifacts_dir: Path) -> ArtifactBundle:
    return load_bundle(artifacts_dir)


@pytest.fixture
def settings(artifacts_dir: Path, tmp_path: Path) -> Settings:
    return Settings(
        artifacts_dir=artifacts_dir,
        db_path=tmp_path / "predictions.db",
        max_body_bytes=64 * 1024,
        max_batch_rows=500,
        drift_interval_seconds=0,
        drift_max_client_share=1.0,  # one test client plays every user (see servers.py)
        admin_token=ADMIN_TOKEN,
        feedback_token=FEEDBACK_TOKEN,
    )


@pytest.fixture
def registry() -> CollectorRegistry:
    return CollectorRegistry()


@pytest.fixture
def metrics(registry: CollectorRegistry) -> Metrics:
    return Metrics(registry)


@pytest.fixture(scope="session")
def migrated_sqlite(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """A SQLite file at the current schema, migrated once: each test copies it (a file copy
    is ~1 ms where alembic's upgrade is ~120 ms, most of a test's setup)."""
    path = tmp_path_factory.mktemp("template") / "predictions.db"
    upgrade(f"sqlite:///{path}")
    return path


def fresh_sqlite(template: Path, target: Path) -> None:
    """``target`` becomes an empty log at the current schema (a copy of ``template``)."""
    shutil.copyfile(template, target)


@pytest.fixture
def components(settings: Settings, metrics: Metrics, migrated_sqlite: Path) -> Iterator[Components]:
    url = database_url(settings)
    if url == f"sqlite:///{settings.db_path}":
        fresh_sqlite(migrated_sqlite, settings.db_path)
    else:
        upgrade(url)
    components = build_components(settings, metrics, rng=random.Random(7))
    yield components
    components.close()


@pytest.fixture
def cli_env(
    settings: Settings, components: Components, monkeypatch: pytest.MonkeyPatch
) -> Settings:
    """`mlops` commands in this process read the same artifacts and database as ``components``."""
    monkeypatch.setenv("MLOPS_ARTIFACTS_DIR", str(settings.artifacts_dir))
    monkeypatch.setenv("MLOPS_DB_PATH", str(settings.db_path))
    return settings


@pytest.fixture
def service(components: Components) -> PredictionService:
    return components.service


@pytest.fixture
def monitor(components: Components) -> DriftMonitor:
    assert components.monitor is not None
    return components.monitor


@pytest.fixture
def experiment(components: Components) -> ExperimentService:
    assert components.experiment is not None
    return components.experiment


@pytest.fixture
def access_lines() -> list[bytes]:
    """What the app's JSON access log wrote, one entry per line."""
    return []


@pytest.fixture
def app(
    settings: Settings,
    registry: CollectorRegistry,
    access_lines: list[bytes],
    components: Components,
) -> Flask:
    """The production wiring (``components``, as bootstrap builds it) with a captured log."""
    return create_app(
        settings, components, registry, access_log=AccessLog(write=access_lines.append)
    )


@pytest.fixture
def client(app: Flask) -> FlaskClient:
    return app.test_client()


@pytest.fixture(scope="session")
def penguins_dir(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """The penguins example's versions (random forest, xgboost), trained by the CLI once."""
    from tests.support.penguins import train_penguins

    return train_penguins(tmp_path_factory.mktemp("penguins") / "artifacts")


@pytest.fixture
def typed_settings(penguins_dir: Path, tmp_path: Path) -> Settings:
    from tests.support.penguins import penguins_settings

    return penguins_settings(penguins_dir, tmp_path / "predictions.db")


@pytest.fixture
def typed_components(typed_settings: Settings, metrics: Metrics) -> Iterator[Components]:
    """A typed (penguins) deployment's components, as ``components`` is Iris's."""
    upgrade(database_url(typed_settings))
    components = build_components(typed_settings, metrics, rng=random.Random(7))
    yield components
    components.close()


@pytest.fixture
def typed(
    typed_settings: Settings, typed_components: Components, registry: CollectorRegistry
) -> FlaskClient:
    return create_app(typed_settings, typed_components, registry).test_client()


@pytest.fixture(scope="session")
def postgres_server() -> Iterator[str]:
    """One real PostgreSQL for the session; tests take a fresh database each."""
    from tests.support.postgres import postgres_or_skip

    with postgres_or_skip() as url:
        yield url


@pytest.fixture
def postgres_database(postgres_server: str) -> str:
    """A new, empty database on the session's server."""
    import uuid

    import psycopg

    name = f"t{uuid.uuid4().hex[:12]}"
    with psycopg.connect(postgres_server, autocommit=True) as connection:
        connection.execute(f"CREATE DATABASE {name}")
    return postgres_server.rsplit("/", 1)[0] + f"/{name}"


@pytest.fixture(params=["sqlite", "postgresql"])
def empty_database_url(request: pytest.FixtureRequest, tmp_path: Path) -> str:
    """A new database on each backend, no schema yet: what the contract tests run against."""
    if request.param == "sqlite":
        return f"sqlite:///{tmp_path / 'log.db'}"
    return str(request.getfixturevalue("postgres_database"))


@pytest.fixture
def upgraded_database_url(empty_database_url: str) -> str:
    """The same, brought to the current schema."""
    upgrade(empty_database_url)
    return empty_database_url


@pytest.fixture
def storage(upgraded_database_url: str) -> Iterator[Storage]:
    opened = open_storage(upgraded_database_url)
    yield opened
    opened.close()


@pytest.fixture(scope="session")
def v3_candidate(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """v3 alone, trained into a folder of its own (as a team trains a candidate)."""
    from mlops_pipeline.cli.main import main

    folder = tmp_path_factory.mktemp("v3")
    (folder / "versions.toml").write_text(V3_CATALOGUE)
    out = folder / "candidates"
    command = ["train", "--versions-file", str(folder / "versions.toml"), "--out", str(out)]
    assert main([*command, "--only", "v3"]) == 0
    return out


@pytest.fixture(scope="session")
def iris_rows(iris: Dataset) -> list[list[float]]:
    """Iris rows in a fixed shuffled order: traffic that stays drift-free."""
    import numpy as np

    order = np.random.default_rng(0).permutation(len(iris.labels))
    return [[float(x) for x in iris.features[i]] for i in order]


# Modules that train or convert models, or run property-based fuzzing: minutes of the unit set,
# left out of `make unit-fast` (which `make test` is not).
SLOW_MODULES = {
    "test_typed_fuzz",
    "test_openapi",
    "test_openapi_typed",
    "test_trust_small",
    "test_training",
    "test_training_mixed",
    "test_models_import",
    "test_retraining_typed",
    "test_typed_grpc",
    "test_artifacts",
    "test_retraining",
}


def pytest_collection_modifyitems(items: list[pytest.Item]) -> None:
    """Mark every test that reaches the session's PostgreSQL (and the slow modules), so
    `make unit-fast` can leave them out (-m 'not postgres and not slow') without each test
    module having to say so."""
    for item in items:
        if item.module is not None and item.module.__name__.rsplit(".", 1)[-1] in SLOW_MODULES:
            item.add_marker(pytest.mark.slow)
        # Directly, or through a backend parameter that asks for the server at run time.
        params = getattr(getattr(item, "callspec", None), "params", {})
        backends = {value for value in params.values() if isinstance(value, str)}
        if "postgres_server" in getattr(item, "fixturenames", ()) or "postgresql" in backends:
            item.add_marker(pytest.mark.postgres)
