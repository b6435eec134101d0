"""Versioned schema migrations (alembic), the same sequence for SQLite and PostgreSQL.

`mlops db upgrade` applies them; servers refuse to start on a database whose schema is behind,
because ``CREATE TABLE IF NOT EXISTS`` would silently keep an old one.
"""

from __future__ import annotations

import time
from functools import cache
from importlib import resources

import sqlalchemy as sa
from alembic import command
from alembic.config import Config
from alembic.runtime.migration import MigrationContext
from alembic.script import ScriptDirectory

from mlops_pipeline.storage.database import redact


class SchemaBehind(RuntimeError):
    """The database needs `mlops db upgrade` before a server may use it."""


def sqlalchemy_url(url: str) -> str:
    # Runtime code talks to PostgreSQL through psycopg 3; SQLAlchemy must use the same driver.
    for prefix in ("postgresql://", "postgres://"):
        if url.startswith(prefix):
            return "postgresql+psycopg://" + url.removeprefix(prefix)
    return url


def _config() -> Config:
    config = Config()
    folder = resources.files("mlops_pipeline.storage").joinpath("migrations")
    config.set_main_option("script_location", str(folder))
    return config


@cache  # the migrations ship with the package: reading their folder again (~8 ms) finds the same
def head_revision() -> str:
    head = ScriptDirectory.from_config(_config()).get_current_head()
    assert head is not None
    return head


def current_revision(url: str) -> str | None:
    engine = sa.create_engine(sqlalchemy_url(url), poolclass=sa.pool.NullPool)
    try:
        with engine.connect() as connection:
            return MigrationContext.configure(connection).get_current_revision()
    finally:
        engine.dispose()


def is_sqlite(url: str) -> bool:
    return url.startswith("sqlite:")


def upgrade(url: str) -> tuple[str | None, str]:
    """Apply every pending migration; return (revision before, revision after). Idempotent.

    A SQLite file's folder is made first: on a fresh clone `data/` is git-ignored and absent,
    and SQLite cannot create a file in a folder that does not exist. Its migration runs under a
    file lock, since `mlops serve` and `mlops monitor` started together both bring their file up
    to date (two at once would both try to create the same tables).
    """
    if not is_sqlite(url):
        return _apply(url)
    from mlops_pipeline.storage.sqlite import FileLock, sqlite_path

    path = sqlite_path(url)
    path.parent.mkdir(parents=True, exist_ok=True)
    lock = FileLock(path.with_name(f"{path.name}.migrate.lock"))
    deadline = time.monotonic() + MIGRATE_LOCK_SECONDS
    while not lock.try_acquire():
        if time.monotonic() > deadline:
            raise TimeoutError(f"another process is migrating {redact(url)}")
        time.sleep(0.05)
    try:
        return _apply(url)
    finally:
        lock.release()


MIGRATE_LOCK_SECONDS = 60


def _apply(url: str) -> tuple[str | None, str]:
    before = current_revision(url)
    engine = sa.create_engine(sqlalchemy_url(url), poolclass=sa.pool.NullPool)
    try:
        with engine.begin() as connection:
            config = _config()
            config.attributes["connection"] = connection
            command.upgrade(config, "head")
    finally:
        engine.dispose()
    return before, head_revision()


def require_current(url: str) -> None:
    """Raise SchemaBehind unless the database is at the newest revision."""
    current, head = current_revision(url), head_revision()
    if current != head:
        state = "has no schema yet" if current is None else f"is at schema revision {current}"
        raise SchemaBehind(
            f"the database {redact(url)} {state}; this release needs {head}:"
            " run `mlops db upgrade` first"
        )
