"""Who is predicting: the name of a prediction key, or a bounded anonymous identity.

Framework-free, so the WSGI fast path and the gRPC servicer share it (the admin and feedback
roles' HTTP guard reads bearer tokens with ``presented_token`` too). The identity is logged with
every answered request; drift and rollout evidence bound each identity's share, so one caller
cannot steer a deployment however much it sends.
"""

from __future__ import annotations

import hashlib
import hmac
from collections.abc import Sequence
from functools import lru_cache

from mlops_pipeline.config import Settings
from mlops_pipeline.credentials import client_keys
from mlops_pipeline.errors import PinForbidden, Unauthorized

ANONYMOUS = "anonymous:"
MAX_CLIENT_ID_LENGTH = 64  # the predictions.client_id column
# "anonymous:user:" leaves this much of a user id readable; longer ids are hashed.
MAX_READABLE_USER_ID = MAX_CLIENT_ID_LENGTH - len(ANONYMOUS) - len("user:")


def presented_token(header: str | None) -> bytes | None:
    """The token exactly as sent after 'Bearer ' (no stripping: ' x' is not 'x')."""
    if not header:
        return None
    scheme, separator, token = header.partition(" ")
    if scheme.lower() != "bearer" or not separator or not token:
        return None
    # WSGI hands headers over as latin-1 strings; this recovers the bytes on the wire.
    return token.encode("latin-1", "replace")


@lru_cache(maxsize=4096)
def _address_identity(address: str) -> str:
    # Hashed, so the log holds no client addresses; cached, so the hot path does a dict lookup.
    # Behind a proxy every anonymous caller shares the proxy's address, hence one identity: that
    # bounds them together, which errs on the safe side (X-Forwarded-For is not trusted, since
    # any caller could then mint identities at will).
    return f"{ANONYMOUS}addr:{hashlib.sha256(address.encode()).hexdigest()[:24]}"


def anonymous_identity(user_id: str | None, address: str | None) -> str:
    """At most MAX_CLIENT_ID_LENGTH characters: the sticky user id, else the hashed address."""
    if user_id is not None:
        if len(user_id) <= MAX_READABLE_USER_ID:
            return f"{ANONYMOUS}user:{user_id}"
        return f"{ANONYMOUS}user#{hashlib.sha256(user_id.encode()).hexdigest()[:32]}"
    return _address_identity(address or "unknown")


class ClientKeys:
    """The prediction role: named keys (or anyone when none are set) and who may pin."""

    def __init__(
        self,
        keys: dict[str, str],
        admin_token: str | None = None,
        allow_anonymous_pins: bool = False,
    ) -> None:
        self._keys = [(token.encode(), name) for name, token in keys.items()]
        if admin_token:
            # The admin may predict (and pin) whatever the keys; it is logged as "admin".
            self._keys.append((admin_token.encode(), "admin"))
        self._admin = admin_token.encode() if admin_token else None
        self.required = bool(keys)
        self._anonymous_pins = allow_anonymous_pins

    @classmethod
    def from_settings(cls, settings: Settings) -> ClientKeys:
        keys = {} if settings.predict_tokens is None else client_keys(settings.predict_tokens)
        admin = settings.admin_token.get_secret_value() if settings.admin_token else None
        return cls(keys, admin, settings.allow_anonymous_pins)

    def identify(self, authorization: str | None, user_id: str | None, address: str | None) -> str:
        """The client identity to log, or Unauthorized when keys are required and none matches."""
        if not self.required:
            return anonymous_identity(user_id, address)
        presented = presented_token(authorization)
        if presented is None:
            raise Unauthorized("send 'Authorization: Bearer <prediction token>'")
        name = self._match(presented)
        if name is None:
            raise Unauthorized("the prediction token is not valid")
        return name

    def check_pin(self, authorization: str | None, weight: float) -> None:
        """A version with traffic may be pinned by anyone who may predict; one without traffic
        (a candidate, a retired champion) only by the admin unless anonymous pins are allowed,
        since it answers with a model nobody chose to expose."""
        if weight > 0 or self._anonymous_pins:
            return
        presented = presented_token(authorization)
        if self._admin is None or presented is None:
            raise PinForbidden(
                "this version has no traffic share: pinning it needs the admin token"
            )
        if not hmac.compare_digest(presented, self._admin):
            raise PinForbidden("the token does not allow pinning a version with no traffic")

    def _match(self, presented: bytes) -> str | None:
        # Every key is compared (no early exit) so the time taken does not say which matched.
        found = None
        for token, name in self._keys:
            if hmac.compare_digest(presented, token):
                found = name
        return found


def newest_per_client(clients: Sequence[str | None], size: int, cap: int) -> list[int]:
    """Indices of the newest ``size`` items once each client keeps only its ``cap`` newest;
    ``clients`` runs oldest to newest and so do the indices returned.

    What bounds one caller's say in a window of evidence (drift rows, latency samples): past its
    cap its items are left out and older items of other clients take their place. An item with
    no client (logged before clients were recorded) counts as a client of its own.
    """
    taken: dict[str, int] = {}
    kept: list[int] = []
    for index in range(len(clients) - 1, -1, -1):
        if len(kept) >= size:
            break
        client = clients[index]
        if client is not None:
            if taken.get(client, 0) >= cap:
                continue
            taken[client] = taken.get(client, 0) + 1
        kept.append(index)
    kept.reverse()
    return kept
