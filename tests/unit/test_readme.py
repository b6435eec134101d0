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


def section(title: str) -> str:
    start = README.index(f"\n### {title}\n")
    end = README.find("\n#", start + 1)
    return README[start:end]


def test_what_anonymous_predict_allows_states_the_bounds_the_code_applies() -> None:
    from mlops_pipeline.delivery import evidence

    text = " ".join(section("What anonymous /predict allows").split())
    defaults = Settings.model_fields
    share = defaults["drift_max_client_share"].default
    window = defaults["drift_window"].default
    assert f"`MLOPS_DRIFT_MAX_CLIENT_SHARE` ({share:.0%}, {round(share * window)} rows of the" in (
        text
    )
    assert f"default {window}) of the drift window" in text
    assert f"`MLOPS_DRIFT_MIN_WINDOW` ({defaults['drift_min_window'].default})" in text
    assert f"newest {evidence.LATENCY_SAMPLES:,} requests" in text
    assert f"at most {evidence.MAX_CLIENT_SHARE:.0%} from any one client" in text
    assert defaults["allow_anonymous_pins"].default is False
    assert "`pin_forbidden`), unless `MLOPS_ALLOW_ANONYMOUS_PINS=true`" in text
    assert "`MLOPS_PREDICT_TOKENS` unset (the default) anyone who reaches the port" in text
