"""Dependency floors that really work with the flags the launcher passes."""

from __future__ import annotations

import tomllib
from importlib import metadata
from pathlib import Path

from packaging.requirements import Requirement
from packaging.version import Version

from mlops_pipeline.cli.launcher import granian_command, gunicorn_command
from mlops_pipeline.config import Settings

PYPROJECT = Path(__file__).resolve().parents[2] / "pyproject.toml"


def floors() -> dict[str, Version]:
    project = tomllib.loads(PYPROJECT.read_text())["project"]
    found = {}
    for line in project["dependencies"]:
        requirement = Requirement(line)
        for spec in requirement.specifier:
            if spec.operator == ">=":
                found[requirement.name] = Version(spec.version)
    return found


def test_gunicorn_floor_has_the_control_socket_flag() -> None:
    # --no-control-socket arrived in gunicorn 25.1; 23.0 refuses to start with it.
    assert "--no-control-socket" in gunicorn_command(Settings(server="gunicorn"))
    assert floors()["gunicorn"] >= Version("25.1")


def test_granian_floor_covers_the_flags_the_launcher_passes() -> None:
    command = granian_command(Settings())
    assert "--respawn-interval" in command
    assert "--http1-header-read-timeout" in command
    assert floors()["granian"] >= Version("2.8")


def test_installed_versions_meet_the_floors() -> None:
    for name, floor in floors().items():
        assert Version(metadata.version(name)) >= floor, name
