"""Bearer tokens and prediction keys: what makes one strong enough, and how keys are written.

Pure functions over strings, shared by the settings (which refuse malformed keys), the start-up
checks (which refuse weak tokens) and the prediction role (protocol/clients.py).
"""

from __future__ import annotations

from typing import Protocol

from pydantic import SecretStr


class TokenSettings(Protocol):
    """The settings a server's tokens come from (``config.Settings``)."""

    admin_token: SecretStr | None
    feedback_token: SecretStr | None
    retrain_webhook_token: SecretStr | None
    predict_tokens: SecretStr | None


MIN_TOKEN_LENGTH = 16


def token_weakness(token: str) -> str | None:
    """Why ``token`` cannot guard a role, or None. Whitespace and unprintable characters add
    nothing a guesser must find (and HTTP strips the one, cannot carry the other)."""
    if len(token) < MIN_TOKEN_LENGTH:
        return f"has {len(token)} characters; at least {MIN_TOKEN_LENGTH} are required"
    if not token.isprintable():
        return "holds control or other unprintable characters, which no HTTP header carries"
    visible = sum(1 for character in token if not character.isspace())
    if visible < MIN_TOKEN_LENGTH:
        return (
            f"has only {visible} characters besides whitespace;"
            f" at least {MIN_TOKEN_LENGTH} are required"
        )
    if token != token.strip():
        return "starts or ends with whitespace, which HTTP strips: no request could match it"
    return None


def token_problems(settings: TokenSettings) -> list[str]:
    """Why the configured tokens cannot guard a server (too short to resist guessing)."""
    problems = []
    for name in ("admin_token", "feedback_token", "retrain_webhook_token"):
        token: SecretStr | None = getattr(settings, name)
        weakness = None if token is None else token_weakness(token.get_secret_value())
        if weakness is not None:
            problems.append(
                f"MLOPS_{name.upper()} {weakness}"
                " (make one with: python3 -c 'import secrets; print(secrets.token_urlsafe(32))')"
            )
    if settings.predict_tokens is not None:
        for key, secret in client_keys(settings.predict_tokens).items():
            weakness = token_weakness(secret)
            if weakness is not None:
                problems.append(f"the MLOPS_PREDICT_TOKENS key {key!r} {weakness}")
    return problems


MAX_CLIENT_NAME_LENGTH = 32


def client_keys(value: SecretStr) -> dict[str, str]:
    """'name:token,name:token' as {name: token}; ValueError (naming no token) when malformed."""
    keys: dict[str, str] = {}
    for number, entry in enumerate(value.get_secret_value().split(","), start=1):
        name, separator, token = entry.strip().partition(":")
        if not separator or not token or not name:
            raise ValueError(f"MLOPS_PREDICT_TOKENS entry {number} is not 'name:token'")
        if len(name) > MAX_CLIENT_NAME_LENGTH or not name.isascii() or not name.isprintable():
            raise ValueError(
                f"MLOPS_PREDICT_TOKENS entry {number}: a name is 1 to {MAX_CLIENT_NAME_LENGTH}"
                " printable ASCII characters"
            )
        if name in keys or token in keys.values():
            raise ValueError(f"MLOPS_PREDICT_TOKENS entry {number} repeats a name or a token")
        keys[name] = token
    return keys
