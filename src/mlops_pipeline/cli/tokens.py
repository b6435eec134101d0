"""Local bearer tokens for `mlops up`: made once, kept in a file only the user can read."""

from __future__ import annotations

import os
import secrets
import stat
from pathlib import Path

TOKEN_NAMES = ("MLOPS_ADMIN_TOKEN", "MLOPS_FEEDBACK_TOKEN")


def new_token() -> str:
    return secrets.token_urlsafe(32)  # 43 characters, 256 bits


def read_token_file(path: Path) -> dict[str, str]:
    values: dict[str, str] = {}
    for line in path.read_text("utf-8").splitlines():
        name, separator, value = line.partition("=")
        if separator and name.strip() in TOKEN_NAMES and value.strip():
            values[name.strip()] = value.strip()
    return values


def ensure_token_file(path: Path) -> dict[str, str]:
    """Both tokens from ``path``, writing new ones first when it is missing or incomplete.

    A file that others can read is refused rather than used: its tokens may have leaked.
    """
    if path.exists():
        mode = stat.S_IMODE(path.stat().st_mode)
        if mode & 0o077:
            raise ValueError(f"it is readable by others (mode {mode:o}); run: chmod 600 {path}")
        values = read_token_file(path)
        if all(name in values for name in TOKEN_NAMES):
            return values
    else:
        values = {}
    for name in TOKEN_NAMES:
        values.setdefault(name, new_token())
    path.parent.mkdir(parents=True, exist_ok=True)
    # Created 0600 from the start: no moment where the tokens sit in a world-readable file.
    descriptor = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_TRUNC, 0o600)
    with os.fdopen(descriptor, "w", encoding="utf-8") as handle:
        handle.write("# Bearer tokens of this local stack (mlops up); keep this file private.\n")
        for name in TOKEN_NAMES:
            handle.write(f"{name}={values[name]}\n")
    os.chmod(path, 0o600)
    return values
