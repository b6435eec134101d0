"""Bearer tokens for two roles, compared exactly and in constant time; failures are logged.

The admin role changes weights and reads what reveals others' data (the prediction listing, the
audit history); the feedback role posts labels. An unset or empty token disables its role.
"""

from __future__ import annotations

import enum
import hmac
from dataclasses import dataclass

from flask import request
from pydantic import SecretStr

from mlops_pipeline.config import Settings
from mlops_pipeline.errors import (
    AdminDisabled,
    FeedbackDisabled,
    Forbidden,
    InvalidActor,
    Unauthorized,
)
from mlops_pipeline.monitoring.metrics import bounded_method
from mlops_pipeline.protocol.access_log import AccessLog
from mlops_pipeline.protocol.clients import presented_token
from mlops_pipeline.serving.validation import has_control_characters

MAX_ACTOR_LENGTH = 64


class Role(enum.Enum):
    ADMIN = "admin"
    FEEDBACK = "feedback"


def _secret(token: SecretStr | None) -> bytes | None:
    return None if token is None else token.get_secret_value().encode("utf-8")


@dataclass(frozen=True)
class Guard:
    admin_token: bytes | None
    feedback_token: bytes | None
    log: AccessLog

    @classmethod
    def from_settings(cls, settings: Settings, log: AccessLog) -> Guard:
        return cls(_secret(settings.admin_token), _secret(settings.feedback_token), log)

    def require(self, role: Role) -> str:
        """Who is acting (for the audit log), or raise 401/403 and log why."""
        own = self.admin_token if role is Role.ADMIN else self.feedback_token
        accepted = self._accepted(role)
        presented = presented_token(request.headers.get("Authorization"))
        # Every accepted token is compared, so the time taken does not say which one matched.
        matched = presented is not None and any(
            [hmac.compare_digest(presented, token) for token in accepted]
        )
        if own is None and not matched:  # the role is off; only an admin may still act
            self._deny("role_disabled", role)
            if role is Role.ADMIN:
                raise AdminDisabled("admin endpoints are disabled: no MLOPS_ADMIN_TOKEN is set")
            raise FeedbackDisabled("feedback is disabled: no MLOPS_FEEDBACK_TOKEN is set")
        if presented is None:
            self._deny("auth_failure", role, reason="missing bearer token")
            raise Unauthorized(f"send 'Authorization: Bearer <{role.value} token>'")
        if not matched:
            other = self.feedback_token if role is Role.ADMIN else None
            if other is not None and hmac.compare_digest(presented, other):
                self._deny("role_denied", role, reason="token of another role")
            else:
                self._deny("auth_failure", role, reason="invalid token")
            raise Forbidden(f"the token does not grant the {role.value} role")
        return f"{actor_name()}@{request.remote_addr or 'unknown'}"

    def admin_view(self) -> bool:
        """For reads that show more to an admin (who acted) than to anyone: without an
        Authorization header, the public view (False); with one, the admin view (True) or the
        refusal and ``auth_failure`` line of any admin endpoint, so a wrong token is never
        silently answered as if no token had been sent (nor guessed at unlogged)."""
        if request.headers.get("Authorization") is None:
            return False
        self.require(Role.ADMIN)
        return True

    def _accepted(self, role: Role) -> list[bytes]:
        tokens = [self.admin_token]
        if role is Role.FEEDBACK:
            tokens.append(self.feedback_token)
        return [token for token in tokens if token is not None]

    def _deny(self, event: str, role: Role, reason: str = "role disabled") -> None:
        self.log.event(
            event,
            role=role.value,
            reason=reason,
            method=bounded_method(request.method),
            path=request.path,
            client=request.remote_addr,
        )


def actor_name() -> str:
    actor = request.headers.get("X-Actor")
    if actor is None or actor == "":
        return "admin"
    if has_control_characters(actor) or len(actor) > MAX_ACTOR_LENGTH:
        raise InvalidActor(
            f"X-Actor must be 1 to {MAX_ACTOR_LENGTH} characters without control characters"
        )
    return actor
