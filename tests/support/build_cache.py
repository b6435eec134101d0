"""Expensive test inputs (trained models, a migrated database) built once and shared.

A build goes in a folder of its own under ``root``, made under an exclusive file lock: the first
process to ask builds it while any other waits, then every one reads the same files (no test
writes under them: those that change such a folder copy it first). A build that failed or was cut
short leaves no marker, and the next asker starts it again.

The conftest's roots: pytest's cache folder (``.pytest_cache``), under a key that is the hash of
everything a build reads (this package's sources, the test support code, the penguins example,
every installed distribution's version, Python's and SQLite's), so a run reuses what an earlier
run built from the very same inputs; without the cache plugin, the xdist run's own temporary
folder, shared by its workers.
"""

from __future__ import annotations

import fcntl
import hashlib
import importlib.metadata
import importlib.util
import os
import shutil
import sqlite3
import sys
import time
from collections.abc import Callable
from functools import cache
from pathlib import Path

ROOT = Path(__file__).resolve().parents[2]
# Key folders kept beside the current one: the most recently used, and any used lately (a run
# still reading one, e.g. from a checkout edited since it started).
KEEP_OTHERS = 3
IN_USE_SECONDS = 6 * 3600
USED = "used"


def _files(folder: Path) -> list[Path]:
    return sorted(
        path for path in folder.rglob("*") if path.is_file() and "__pycache__" not in path.parts
    )


@cache
def source_key() -> str:
    """A hash of every input of the builds (see the module's docstring)."""
    spec = importlib.util.find_spec("mlops_pipeline")
    assert spec is not None
    assert spec.submodule_search_locations
    package = Path(next(iter(spec.submodule_search_locations)))
    digest = hashlib.sha256()
    inputs = [
        *((package.parent, path) for path in _files(package)),
        (ROOT, ROOT / "tests" / "conftest.py"),
        *((ROOT, path) for path in _files(ROOT / "tests" / "support")),
        *((ROOT, path) for path in _files(ROOT / "examples" / "penguins")),
    ]
    for base, path in inputs:
        digest.update(f"{path.relative_to(base).as_posix()}\0".encode())
        digest.update(path.read_bytes())
    distributions = sorted(
        f"{dist.metadata['Name']}=={dist.version}" for dist in importlib.metadata.distributions()
    )
    settings = sorted(f"{k}={v}" for k, v in os.environ.items() if k.startswith("MLOPS_"))
    for text in (*distributions, *settings, sys.version, sqlite3.sqlite_version):
        digest.update(f"{text}\0".encode())
    return digest.hexdigest()[:20]


def built(root: Path, name: str, build: Callable[[Path], Path]) -> Path:
    """``build``'s result, built into ``root / name`` by the first process to ask."""
    root.mkdir(parents=True, exist_ok=True)
    folder, done = root / name, root / f"{name}.done"
    with (root / f"{name}.lock").open("w") as lock:
        fcntl.flock(lock, fcntl.LOCK_EX)
        if not done.exists():
            shutil.rmtree(folder, ignore_errors=True)
            folder.mkdir()
            result = build(folder)
            done.write_text(result.relative_to(folder).as_posix())
    (root / USED).touch()
    return folder / done.read_text()


def prune(keys: Path, current: str) -> None:
    """Remove key folders other than ``current`` but the ``KEEP_OTHERS`` most recently used,
    never one used within ``IN_USE_SECONDS``."""

    def last_used(folder: Path) -> float:
        try:
            return (folder / USED).stat().st_mtime
        except FileNotFoundError:
            return 0.0

    others = sorted(
        (folder for folder in keys.iterdir() if folder.is_dir() and folder.name != current),
        key=last_used,
        reverse=True,
    )
    for folder in others[KEEP_OTHERS:]:
        if time.time() - last_used(folder) > IN_USE_SECONDS:
            shutil.rmtree(folder, ignore_errors=True)
