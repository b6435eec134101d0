"""The README's promises that can drift from the code."""

from __future__ import annotations

import re
from pathlib import Path

from mlops_pipeline.config import Settings
from mlops_pipeline.errors import all_error_codes

README = (Path(__file__).resolve().parents[2] / "README.md").read_text()


def test_first_screen_shows_the_two_commands_then_curl() -> None:
    first_screen = "\n".join(README.splitlines()[:20])
    assert "make up" in first_screen
    assert "make test" in first_screen
    assert "curl" in first_screen
    assert first_screen.index("make up") < first_screen.index("curl")


def test_every_setting_is_documented() -> None:
    documented = set(re.findall(r"`(MLOPS_[A-Z_]+)`", README))
    expected = {f"MLOPS_{name.upper()}" for name in Settings.model_fields}
    assert expected <= documented, expected - documented


def test_every_error_code_is_documented() -> None:
    for code in all_error_codes():
        assert f"`{code}`" in README, code
