"""Fail fast while the database server is gone, instead of making every request wait for it.

Once a call finds the server unreachable (refused, reset, shut down), the breaker opens: calls
fail at once, and one caller per ``retry_seconds`` (the probe) tries the server again; when the
probe gets through, the breaker closes and everyone goes back to the server. A worker thread
therefore spends microseconds, not a connection timeout, on each request during an outage, so
the probes (/health) and the requests that need no database are never queued behind it.
"""

from __future__ import annotations

import threading
import time
from collections.abc import Callable


class Breaker:
    def __init__(self, retry_seconds: float, clock: Callable[[], float] = time.monotonic) -> None:
        self._retry_seconds = retry_seconds
        self._clock = clock
        self._lock = threading.Lock()
        self._retry_at = 0.0
        self._probing = False
        self.open = False  # read without the lock on every call: a stale value costs one call
        self.reason = ""

    def admit(self) -> bool:
        """Whether this call may go to the server: always while closed; while open, only the
        one probe of each retry interval."""
        if not self.open:
            return True
        with self._lock:
            if self._probing or self._clock() < self._retry_at:
                return False
            self._probing = True
            return True

    def failed(self, reason: str) -> None:
        """The server is unreachable: refuse calls until the next probe is due."""
        with self._lock:
            self.open = True
            self.reason = reason
            self._retry_at = self._clock() + self._retry_seconds
            self._probing = False

    def succeeded(self) -> None:
        if not self.open:
            return
        with self._lock:
            self.open = False
            self._probing = False
