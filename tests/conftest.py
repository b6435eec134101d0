"""Fixtures chain: artifacts -> settings -> registry/metrics -> service -> app -> client."""

from __future__ import annotations

import contextlib
import gc
import io
import os
import random
import shutil
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import TYPE_CHECKING

import pytest

# The modules under test are imported where the fixtures use them: this file is loaded by every
# pytest process, the xdist controller too (which runs no test), before any worker starts.
if TYPE_CHECKING:
    from flask import Flask
    from flask.testing import FlaskClient
    from prometheus_client import CollectorRegistry

    from mlops_pipeline.artifacts import ArtifactBundle
    from mlops_pipeline.bootstrap import Components
    from mlops_pipeline.config import Settings
    from mlops_pipeline.experiment.service import ExperimentService
    from mlops_pipeline.monitoring.drift_monitor import DriftMonitor
    from mlops_pipeline.monitoring.metrics import Metrics
    from mlops_pipeline.serving.service import PredictionService
    from mlops_pipeline.storage import Storage
    from mlops_pipeline.training.data import Dataset


@pytest.fixture(scope="session")
def iris() -> Dataset:
    from mlops_pipeline.training.data import load_iris_dataset

    return load_iris_dataset()


# Expensive session fixtures (models trained, a database migrated) are built once for every
# process and every run from the same sources (see built_once); under xdist each worker builds
# its share ahead, side by side (pytest_collection_finish).


def _train_iris(folder: Path) -> Path:
    from mlops_pipeline.config import load_catalogue
    from mlops_pipeline.training.data import load_iris_dataset
    from mlops_pipeline.training.trainer import train_all

    out = folder / "artifacts"
    train_all(load_iris_dataset(), load_catalogue(), out)
    return out


def _train_penguins(folder: Path) -> Path:
    """The penguins example's versions (random forest, xgboost), trained by the CLI."""
    from tests.support.penguins import train_penguins

    return train_penguins(folder / "artifacts")


def _train_v3(folder: Path) -> Path:
    """v3 alone, trained into a folder of its own (as a team trains a candidate)."""
    from mlops_pipeline.cli.main import main
    from tests.support.helpers import V3_CATALOGUE

    (folder / "versions.toml").write_text(V3_CATALOGUE)
    out = folder / "candidates"
    command = ["train", "--versions-file", str(folder / "versions.toml"), "--out", str(out)]
    assert main([*command, "--only", "v3"]) == 0
    return out


def _migrate_sqlite(folder: Path) -> Path:
    from mlops_pipeline.storage.schema import upgrade

    path = folder / "predictions.db"
    upgrade(f"sqlite:///{path}")
    return path


# fixture -> (folder name, builder), the most expensive first; each builder writes only under the
# folder it is given and returns the path the fixture stands for.
SHARED_BUILDS: dict[str, tuple[str, Callable[[Path], Path]]] = {
    "artifacts_dir": ("trained", _train_iris),
    "penguins_dir": ("penguins", _train_penguins),
    "v3_candidate": ("v3", _train_v3),
    "migrated_sqlite": ("template", _migrate_sqlite),
}


def _xdist_worker() -> tuple[int, int] | None:
    """(this worker's index, how many workers) under xdist, else None."""
    name = os.environ.get("PYTEST_XDIST_WORKER")
    if name is None or not name.startswith("gw"):
        return None
    return int(name[2:]), int(os.environ.get("PYTEST_XDIST_WORKER_COUNT", "1"))


def built_once(config: pytest.Config, fixture: str) -> Path:
    """What ``fixture`` stands for, built by the first process to ask for it (see
    tests/support/build_cache.py): in pytest's cache folder under the hash of the builds'
    inputs, so later runs from the same sources reuse it; without the cache plugin, once per
    run (in the xdist run's temporary folder, or the process's own)."""
    from tests.support import build_cache

    name, build = SHARED_BUILDS[fixture]
    factory: pytest.TempPathFactory = config._tmp_path_factory  # type: ignore[attr-defined]
    cache: pytest.Cache | None = getattr(config, "cache", None)
    if cache is not None:
        keys, key = cache.mkdir("mlops-builds"), build_cache.source_key()
        path = build_cache.built(keys / key, name, build)
        build_cache.prune(keys, key)
        return path
    if _xdist_worker() is not None:
        return build_cache.built(factory.getbasetemp().parent / "shared", name, build)
    return build(factory.mktemp(name))


@pytest.hookimpl(wrapper=True)
def pytest_collection(session: pytest.Session) -> Iterator[None]:
    """Collecting imports every library the tests use (every xdist worker does): the garbage
    collector, off meanwhile, would otherwise walk the growing heap again and again (~1.3 s a
    worker). What is loaded by then lives as long as the run, so it is frozen out of the later
    full collections too (the gc.freeze that src/mlops_pipeline/wsgi.py does before forking)."""
    gc.disable()
    try:
        return (yield)
    finally:
        _settle_heap()


def _settle_heap() -> None:
    if not gc.isenabled():
        gc.freeze()
        gc.enable()


@pytest.hookimpl(trylast=True)
def pytest_collection_finish(session: pytest.Session) -> None:
    """Under xdist, start the shared builds the selected tests need before they run, each
    worker taking its share (round robin from the most expensive), so they are built side by
    side rather than one after the other while the other workers wait. A build that fails here
    is left to its fixture, which retries it and reports the failure on the test."""
    _settle_heap()  # before the builds, which allocate as the tests do
    worker = _xdist_worker()
    if worker is None:
        return
    index, count = worker
    needed = [
        fixture
        for fixture in SHARED_BUILDS
        if any(fixture in getattr(item, "fixturenames", ()) for item in session.items)
    ]
    for fixture in needed[index::count]:
        with (
            contextlib.suppress(Exception),
            contextlib.redirect_stdout(io.StringIO()),
            contextlib.redirect_stderr(io.StringIO()),
        ):
            built_once(session.config, fixture)


@pytest.hookimpl(trylast=True)
def pytest_unconfigure(config: pytest.Config) -> None:
    """The run is over: leave its objects to the operating system. Python's exit would otherwise
    run garbage collections over everything the libraries loaded, ~3 s a process (which the
    xdist controller waits for at the end of every run); objects freed by reference counting
    are still freed, and atexit handlers still run."""
    gc.freeze()


@pytest.fixture(scope="session")
def artifacts_dir(pytestconfig: pytest.Config) -> Path:
    return built_once(pytestconfig, "artifacts_dir")


@pytest.fixture(scope="session")
def bundle(artifacts_dir: Path) -> ArtifactBundle:
    from mlops_pipeline.artifacts import load_bundle

    return load_bundle(artifacts_dir)


@pytest.fixture
def settings(artifacts_dir: Path, tmp_path: Path) -> Settings:
    from mlops_pipeline.config import Settings
    from tests.support.helpers import ADMIN_TOKEN, FEEDBACK_TOKEN

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
    from prometheus_client import CollectorRegistry

    return CollectorRegistry()


@pytest.fixture
def metrics(registry: CollectorRegistry) -> Metrics:
    from mlops_pipeline.monitoring.metrics import Metrics

    return Metrics(registry)


@pytest.fixture(scope="session")
def migrated_sqlite(pytestconfig: pytest.Config) -> Path:
    """A SQLite file at the current schema, migrated once: each test copies it (a file copy
    is ~1 ms where alembic's upgrade is ~120 ms, most of a test's setup)."""
    return built_once(pytestconfig, "migrated_sqlite")


def at_head(url: str, template: Path) -> None:
    """``url``'s new database brought to the current schema: a SQLite file as a copy of
    ``template`` (``migrated_sqlite``), any other by migrating it."""
    from mlops_pipeline.storage.schema import upgrade

    if url.startswith("sqlite:///"):
        shutil.copyfile(template, url.removeprefix("sqlite:///"))
    else:
        upgrade(url)


@pytest.fixture
def components(settings: Settings, metrics: Metrics, migrated_sqlite: Path) -> Iterator[Components]:
    from mlops_pipeline.bootstrap import build_components
    from mlops_pipeline.config import database_url

    at_head(database_url(settings), migrated_sqlite)
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
    from mlops_pipeline.api import create_app
    from mlops_pipeline.protocol.access_log import AccessLog

    return create_app(
        settings, components, registry, access_log=AccessLog(write=access_lines.append)
    )


@pytest.fixture
def client(app: Flask) -> FlaskClient:
    return app.test_client()


@pytest.fixture(scope="session")
def penguins_dir(pytestconfig: pytest.Config) -> Path:
    """The penguins example's versions (random forest, xgboost), trained by the CLI once."""
    return built_once(pytestconfig, "penguins_dir")


@pytest.fixture
def typed_settings(penguins_dir: Path, tmp_path: Path) -> Settings:
    from tests.support.penguins import penguins_settings

    return penguins_settings(penguins_dir, tmp_path / "predictions.db")


@pytest.fixture
def typed_components(
    typed_settings: Settings, metrics: Metrics, migrated_sqlite: Path
) -> Iterator[Components]:
    """A typed (penguins) deployment's components, as ``components`` is Iris's."""
    from mlops_pipeline.bootstrap import build_components
    from mlops_pipeline.config import database_url

    at_head(database_url(typed_settings), migrated_sqlite)
    components = build_components(typed_settings, metrics, rng=random.Random(7))
    yield components
    components.close()


@pytest.fixture
def typed(
    typed_settings: Settings, typed_components: Components, registry: CollectorRegistry
) -> FlaskClient:
    from mlops_pipeline.api import create_app

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
def upgraded_database_url(empty_database_url: str, migrated_sqlite: Path) -> str:
    """The same, brought to the current schema (SQLite's as a copy of ``migrated_sqlite``)."""
    at_head(empty_database_url, migrated_sqlite)
    return empty_database_url


@pytest.fixture
def storage(upgraded_database_url: str) -> Iterator[Storage]:
    from mlops_pipeline.storage import open_storage

    opened = open_storage(upgraded_database_url)
    yield opened
    opened.close()


@pytest.fixture(scope="session")
def v3_candidate(pytestconfig: pytest.Config) -> Path:
    """v3 alone, trained into a folder of its own (as a team trains a candidate)."""
    return built_once(pytestconfig, "v3_candidate")


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


class _SlowTestMarks:
    """Marks of a test marked slow, its other marks answered from ``answers``: a name not asked
    before is answered False, and the same answers with it True are queued on ``pending``."""

    def __init__(
        self, answers: dict[tuple[str, str], bool], pending: list[dict[tuple[str, str], bool]]
    ) -> None:
        self.answers, self.pending = answers, pending

    def __call__(self, name: str, /, **kwargs: object) -> bool:
        if name == "slow":
            return not kwargs  # the mark set by conftest carries no arguments
        key = (name, repr(sorted(kwargs.items())))
        if key not in self.answers:
            self.pending.append({**self.answers, key: True})
            self.answers[key] = False
        return self.answers[key]


def _deselects_every_slow_test(markexpr: str) -> bool:
    """Whether ``-m markexpr`` leaves out a test marked slow whatever its other marks are: the
    expression is false for every way of answering its other names."""
    from _pytest.mark.expression import Expression

    expression = Expression.compile(markexpr)
    pending: list[dict[tuple[str, str], bool]] = [{}]
    while pending:
        if expression.evaluate(_SlowTestMarks(pending.pop(), pending)):
            return False
    return True


def pytest_ignore_collect(collection_path: Path, config: pytest.Config) -> bool | None:
    """A slow module is not even imported when `-m` leaves all its tests out (`make unit-fast`):
    importing them (skops, onnx, schemathesis...) cost every xdist worker ~10 s for nothing."""
    if collection_path.suffix != ".py" or collection_path.stem not in SLOW_MODULES:
        return None
    markexpr = config.option.markexpr
    try:
        return True if markexpr and _deselects_every_slow_test(markexpr) else None
    except Exception:  # an expression pytest itself will refuse, with its own message
        return None


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
