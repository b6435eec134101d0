"""Admin authentication: a bearer token from settings, compared in constant time."""

from __future__ import annotations

import hmac

from flask import request

from mlops_pipeline.config import Settings
from mlops_pipeline.errors import AdminDisabled, Forbidden, Unauthorized


def require_admin(settings: Settings) -> str:
    """Return who is acting (for the audit log), or raise 401/403."""
    if settings.admin_token is None:
        raise AdminDisabled("admin endpoints are disabled: no MLOPS_ADMIN_TOKEN is configured")
    scheme, _, token = request.headers.get("Authorization", "").partition(" ")
    if scheme.lower() != "bearer" or not token:
        raise Unauthorized("send 'Authorization: Bearer <admin token>'")
    expected = settings.admin_token.get_secret_value().encode()
    if not hmac.compare_digest(token.strip().encode(), expected):
        raise Forbidden("the admin token is not valid")
    actor = request.headers.get("X-Actor", "").strip()[:64]
    return f"{actor or 'admin'}@{request.remote_addr or 'unknown'}"
