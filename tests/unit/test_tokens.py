from __future__ import annotations

import os
import stat
from pathlib import Path

import pytest

from mlops_pipeline.cli import CliError, with_local_tokens
from mlops_pipeline.cli.tokens import TOKEN_NAMES, ensure_token_file
from mlops_pipeline.config import Settings, settings_to_env


def test_tokens_are_made_once_in_a_private_file(tmp_path: Path) -> None:
    path = tmp_path / "data" / "tokens.env"
    first = ensure_token_file(path)
    assert set(first) == set(TOKEN_NAMES)
    assert first["MLOPS_ADMIN_TOKEN"] != first["MLOPS_FEEDBACK_TOKEN"]
    assert all(len(token) >= 32 for token in first.values())
    assert stat.S_IMODE(path.stat().st_mode) == 0o600
    assert ensure_token_file(path) == first  # kept across restarts


def test_a_file_others_can_read_is_refused(tmp_path: Path) -> None:
    path = tmp_path / "tokens.env"
    ensure_token_file(path)
    os.chmod(path, 0o644)
    with pytest.raises(ValueError, match="readable by others"):
        ensure_token_file(path)


def test_a_missing_token_is_added_and_the_other_kept(tmp_path: Path) -> None:
    path = tmp_path / "tokens.env"
    path.write_text("MLOPS_ADMIN_TOKEN=kept-admin-token-0123456789\n")
    os.chmod(path, 0o600)
    tokens = ensure_token_file(path)
    assert tokens["MLOPS_ADMIN_TOKEN"] == "kept-admin-token-0123456789"
    assert len(tokens["MLOPS_FEEDBACK_TOKEN"]) >= 32


def test_up_fills_in_only_missing_tokens_and_hands_them_on(tmp_path: Path) -> None:
    given = "given-admin-token-0123456789"
    settings = Settings(db_path=tmp_path / "log.db", admin_token=given)
    updated, path = with_local_tokens(settings)
    assert path == tmp_path / "tokens.env"
    assert updated.admin_token is not None
    assert updated.admin_token.get_secret_value() == given
    env = settings_to_env(updated)  # what the API and the UI processes receive
    assert env["MLOPS_ADMIN_TOKEN"] == given
    assert env["MLOPS_FEEDBACK_TOKEN"] == ensure_token_file(path)["MLOPS_FEEDBACK_TOKEN"]


def test_up_with_both_tokens_given_writes_no_file(tmp_path: Path) -> None:
    settings = Settings(
        db_path=tmp_path / "log.db",
        admin_token="given-admin-token-0123456789",
        feedback_token="given-feedback-token-0123456789",
    )
    assert with_local_tokens(settings) == (settings, None)
    assert not (tmp_path / "tokens.env").exists()


def test_a_world_readable_token_file_stops_up(tmp_path: Path) -> None:
    path = tmp_path / "tokens.env"
    ensure_token_file(path)
    os.chmod(path, 0o604)
    with pytest.raises(CliError, match="chmod 600"):
        with_local_tokens(Settings(db_path=tmp_path / "log.db"))
