"""A real PostgreSQL server for tests: initdb and pg_ctl as the `postgres` user, on a free port."""

from __future__ import annotations

import contextlib
import glob
import os
import shutil
import subprocess
import tempfile
from collections.abc import Iterator
from pathlib import Path

from tests.support.servers import free_port


def postgres_bin() -> Path | None:
    found = sorted(glob.glob("/usr/lib/postgresql/*/bin/pg_ctl"))
    return Path(found[-1]).parent if found else None


def unavailable_reason() -> str | None:
    """Why a real PostgreSQL cannot run here, or None when it can."""
    if postgres_bin() is None:
        return "PostgreSQL binaries not installed (Debian package `postgresql`)"
    if os.geteuid() != 0:
        return "starting PostgreSQL as the `postgres` user needs root"
    if shutil.which("runuser") is None:
        return "runuser not found"
    return None


def _as_postgres(*command: str) -> None:
    subprocess.run(
        ["runuser", "-u", "postgres", "--", *command],
        check=True,
        stdout=subprocess.DEVNULL,
        stderr=subprocess.PIPE,
    )


# Each running server's (data folder, pg_ctl -o options, log) by its URL, for stop and start.
_SERVERS: dict[str, tuple[Path, str, Path]] = {}


def stop_postgres(url: str, mode: str = "fast") -> None:
    """``pg_ctl stop -m mode`` of a server running_postgres started: ``immediate`` is a crash
    (no shutdown checkpoint; what the write-ahead log holds on disk is all that survives)."""
    binaries = postgres_bin()
    assert binaries is not None
    data, _options, _log = _SERVERS[url]
    _as_postgres(str(binaries / "pg_ctl"), "-D", str(data), "-m", mode, "-w", "stop")


def start_postgres(url: str) -> None:
    """Start a stopped server again, same port and settings (it recovers from its log)."""
    binaries = postgres_bin()
    assert binaries is not None
    data, options, log = _SERVERS[url]
    _as_postgres(
        str(binaries / "pg_ctl"), "-D", str(data), "-o", options, "-l", str(log), "-w", "start"
    )


@contextlib.contextmanager
def running_postgres(
    listen: str = "127.0.0.1", clients: str | None = None, max_connections: int = 100
) -> Iterator[str]:
    """A fresh cluster; yields a URL for database `mlops` on the first listen address.

    Trust authentication, for loopback and for the ``clients`` network (CIDR) when given: it only
    ever listens on loopback and on addresses the test assigned in its own namespaces.
    """
    binaries = postgres_bin()
    assert binaries is not None
    root = Path(tempfile.mkdtemp(prefix="mlops-pg-"))
    os.chmod(root, 0o755)
    data, sockets = root / "data", root / "sockets"
    sockets.mkdir()
    shutil.chown(root, "postgres", "postgres")
    shutil.chown(sockets, "postgres", "postgres")
    port = free_port()
    try:
        _as_postgres(
            str(binaries / "initdb"), "-D", str(data), "-A", "trust", "-U", "postgres", "-E", "UTF8"
        )
        if clients is not None:
            with open(data / "pg_hba.conf", "a") as hba:
                hba.write(f"host all all {clients} trust\n")
        options = (
            f"-p {port} -k {sockets} -c listen_addresses='{listen}' -c fsync=on"
            f" -c max_connections={max_connections}"
        )
        _as_postgres(
            str(binaries / "pg_ctl"), "-D", str(data), "-o", options, "-l", str(root / "log"),
            "-w", "start",
        )  # fmt: skip
        _as_postgres(str(binaries / "createdb"), "-h", str(sockets), "-p", str(port), "mlops")
        url = f"postgresql://postgres@{listen.split(',')[0]}:{port}/mlops"
        _SERVERS[url] = (data, options, root / "log")
        yield url
    finally:
        with contextlib.suppress(subprocess.CalledProcessError):
            _as_postgres(str(binaries / "pg_ctl"), "-D", str(data), "-m", "immediate", "stop")
        shutil.rmtree(root, ignore_errors=True)


@contextlib.contextmanager
def postgres_or_skip() -> Iterator[str]:
    """A server of the caller's own (a session's, or a module's that stops or crashes it); the
    test is skipped, with the reason, where PostgreSQL cannot run."""
    import pytest

    reason = unavailable_reason()
    if reason is not None:
        pytest.skip(reason)
    with running_postgres() as url:
        yield url
