"""`mlops monitor`: the one role that watches the whole deployment.

Drift, the experiment report and retention pruning run here, not in serving workers. Several
monitors may run (one per replica host); a lock in the database elects one leader (a PostgreSQL
advisory lock, or a file lock beside an SQLite file). The leader writes its reports to the
database, where every replica's ``GET /drift`` and ``GET /experiment`` read the same report; a
standby takes over within two intervals when the leader dies, because its lock dies with it.
"""

from __future__ import annotations

import contextlib
import io
import json
import logging
import os
import secrets
import socket
import sys
import threading
import time
from collections.abc import Callable, Iterable
from dataclasses import dataclass
from http import HTTPStatus
from socketserver import ThreadingMixIn
from typing import Any, Protocol
from wsgiref.simple_server import WSGIRequestHandler, WSGIServer, make_server

from prometheus_client import CollectorRegistry, make_wsgi_app

from mlops_pipeline.protocol.client_errors import error_fields
from mlops_pipeline.storage.database import Lock
from mlops_pipeline.storage.reports import ReportStore
from mlops_pipeline.telemetry.tracing import span

logger = logging.getLogger(__name__)

DRIFT_REPORT = "drift"
EXPERIMENT_REPORT = "experiment"


@dataclass(frozen=True)
class Task:
    name: str
    interval: float
    run: Callable[[], object]
    report: str | None = None  # store the task's result under this name
    close: Callable[[], None] | None = None  # called once when the monitor stops


class LeaderElection:
    """Leadership is holding the lock; it is re-checked before every round of work."""

    def __init__(self, lock: Lock) -> None:
        self._lock = lock

    def lead(self) -> bool:
        if self._lock.held():
            return True
        return self._lock.try_acquire()

    def resign(self) -> None:
        self._lock.release()


def monitor_identity() -> str:
    """Unique per monitor process (host, pid and a nonce: a pid is reused across restarts), so
    the runs it holds are told apart from a dead predecessor's."""
    return f"{socket.gethostname()}:{os.getpid()}:{secrets.token_hex(3)}"


class Monitor:
    def __init__(
        self,
        election: LeaderElection,
        reports: ReportStore,
        tasks: Iterable[Task],
        on_leadership: Callable[[bool], None] = lambda _: None,
        identity: str | None = None,
        clock: Callable[[], float] = time.time,
        timer: Callable[[], float] = time.monotonic,
    ) -> None:
        self._election = election
        self._reports = reports
        self._tasks = list(tasks)
        self._on_leadership = on_leadership
        self.identity = identity or monitor_identity()
        self._clock = clock
        self._timer = timer
        self._due = {task.name: 0.0 for task in self._tasks}
        self.leader = False
        self.failures = 0

    def step(self) -> bool:
        """One round: run every task that is due if this monitor leads; return leadership."""
        leader = self._election.lead()
        if leader != self.leader:
            logger.warning("monitor %s %s", self.identity, "leads" if leader else "stands by")
            self.leader = leader
            self._on_leadership(leader)
            self._due = {name: 0.0 for name in self._due}  # a new leader refreshes everything
        if not leader:
            return False
        for task in self._tasks:
            now = self._timer()
            if now < self._due[task.name]:
                continue
            self._due[task.name] = now + task.interval
            # One trace per job run: a slow drift report or a rollout decision is found by name.
            with span(f"monitor.{task.name}", {"mlops.monitor": self.identity}) as current:
                try:
                    result = task.run()
                    if task.report is not None:
                        self._reports.save(
                            task.report, json.dumps(result), self._clock(), self.identity
                        )
                except Exception as exc:
                    self.failures += 1
                    current.set_attribute("error.type", type(exc).__name__)
                    logger.exception("monitor task %s failed", task.name)
        return True

    def run(self, stop: threading.Event, tick: float) -> None:
        """Step every ``tick`` seconds until ``stop`` is set, then give up the lock."""
        try:
            while not stop.is_set():
                self.step()
                stop.wait(tick)
        finally:
            for task in self._tasks:
                if task.close is not None:
                    task.close()
            self._election.resign()


MAX_POST_BYTES = 1024 * 1024
POST_TIMEOUT_SECONDS = 10  # a client that sends slower is cut off (the socket's timeout)
# The whole request, headers and body, must arrive within this: a client trickling a byte a
# second never trips the per-read timeout and would hold its thread for as long as it liked.
REQUEST_DEADLINE_SECONDS = 15.0
# Connections served at once. Beyond, a new one is answered 503 and closed at once: a flood of
# slow clients holds at most this many threads (Prometheus and Alertmanager need a few), and
# the deadline frees each within REQUEST_DEADLINE_SECONDS.
MAX_CONNECTIONS = 32
# Error bodies are the shape every HTTP server of the project answers with (error_fields),
# serialized as this server writes all its JSON; the fixed ones once, at import.
BUSY_BODY = json.dumps(error_fields("overload", "too many connections")).encode()
BUSY = (
    b"HTTP/1.0 503 Service Unavailable\r\nContent-Type: application/json\r\n"
    b"Connection: close\r\nContent-Length: %d\r\n\r\n%s" % (len(BUSY_BODY), BUSY_BODY)
)
NOT_FOUND_BODY = json.dumps(error_fields("not_found", "not found")).encode()


class PostHandler(Protocol):
    def authorized(self, authorization: str | None) -> bool: ...

    def handle(self, authorization: str | None, body: bytes) -> tuple[int, dict[str, Any]]: ...


def status_server(
    host: str,
    port: int,
    registry: CollectorRegistry,
    status: Callable[[], dict[str, object]],
    post: dict[str, PostHandler] | None = None,
    deadline: float = REQUEST_DEADLINE_SECONDS,
    max_connections: int = MAX_CONNECTIONS,
) -> WSGIServer:
    """/metrics (this monitor's registry) and /health (liveness and leadership) on one port,
    plus the POST handlers given (the Alertmanager webhook). Each request must arrive within
    ``deadline`` seconds; at most ``max_connections`` are served at once."""
    metrics_app = make_wsgi_app(registry)
    handlers = post or {}

    def app(environ: dict[str, Any], start_response: Callable[..., Any]) -> Iterable[bytes]:
        path = environ.get("PATH_INFO", "")
        if path in handlers and environ.get("REQUEST_METHOD") == "POST":
            code, answer = _post(handlers[path], environ)
            reason = HTTPStatus(code).phrase
            start_response(f"{code} {reason}", [("Content-Type", "application/json")])
            return [json.dumps(answer).encode()]
        if path == "/metrics":
            body: Iterable[bytes] = metrics_app(environ, start_response)
            return body
        if path in ("/health", "/"):
            payload = json.dumps({"status": "ok", **status()}).encode()
            start_response("200 OK", [("Content-Type", "application/json")])
            return [payload]
        start_response("404 Not Found", [("Content-Type", "application/json")])
        return [NOT_FOUND_BODY]

    server = make_server(host, port, app, _ThreadingServer, handler_class=_QuietHandler)
    server.request_deadline = deadline
    server.slots = threading.BoundedSemaphore(max_connections)
    threading.Thread(target=server.serve_forever, name="monitor-http", daemon=True).start()
    return server


class _ThreadingServer(ThreadingMixIn, WSGIServer):
    """A thread per connection, up to ``slots``: a slow client never delays /health or a
    scrape, and many slow clients cannot take the process's threads and memory."""

    daemon_threads = True
    request_deadline = REQUEST_DEADLINE_SECONDS
    slots = threading.BoundedSemaphore(MAX_CONNECTIONS)

    def process_request(self, request: Any, client_address: Any) -> None:
        if not self.slots.acquire(blocking=False):
            # No log line per refusal: a flood would write one for each of its connections.
            with contextlib.suppress(OSError):
                request.settimeout(0)  # never wait for a client that does not read
                request.sendall(BUSY)
            self.shutdown_request(request)
            return
        try:
            super().process_request(request, client_address)
        except BaseException:  # no thread started: it will not release the slot
            self.slots.release()
            raise

    def process_request_thread(self, request: Any, client_address: Any) -> None:
        try:
            super().process_request_thread(request, client_address)
        finally:
            self.slots.release()

    def handle_error(self, request: Any, client_address: Any) -> None:
        what = "was cut off (too slow)" if _timed_out() else "failed"
        logger.warning("monitor HTTP: a connection from %s %s", client_address[0], what)


def _timed_out() -> bool:
    return isinstance(sys.exc_info()[1], TimeoutError)


class _QuietHandler(WSGIRequestHandler):
    timeout = POST_TIMEOUT_SECONDS

    def setup(self) -> None:
        super().setup()
        deadline = time.monotonic() + getattr(
            self.server, "request_deadline", REQUEST_DEADLINE_SECONDS
        )
        self.rfile.close()  # the socket stays open; only this buffered view of it goes
        self.rfile = io.BufferedReader(_DeadlineReader(self.connection, deadline, self.timeout))

    def log_message(self, format: str, *args: Any) -> None:
        pass  # Prometheus scrapes every few seconds; one line each would drown the log


class _DeadlineReader(io.RawIOBase):
    """The connection's bytes, every read bounded by what is left of the request's deadline
    (headers and body alike, since both are read through this)."""

    def __init__(self, sock: socket.socket, deadline: float, timeout: float) -> None:
        self._sock = sock
        self._deadline = deadline
        self._timeout = timeout

    def readable(self) -> bool:
        return True

    def readinto(self, buffer: Any) -> int:
        left = self._deadline - time.monotonic()
        if left <= 0:
            raise TimeoutError("the request did not arrive within its deadline")
        self._sock.settimeout(min(left, self._timeout))
        try:
            return self._sock.recv_into(buffer)
        finally:
            self._sock.settimeout(self._timeout)  # writing the answer keeps the usual timeout


def _post(handler: PostHandler, environ: dict[str, Any]) -> tuple[int, dict[str, Any]]:
    authorization = environ.get("HTTP_AUTHORIZATION")
    if not handler.authorized(authorization):
        return 401, error_fields("unauthorized", "a valid bearer token is required")
    raw = environ.get("CONTENT_LENGTH") or "0"
    # The length first: int() refuses more than 4,300 digits with a ValueError (a 500).
    if not (raw.isascii() and raw.isdigit() and len(raw) <= 18):
        return 400, error_fields("bad_request", "Content-Length must be a byte count")
    if int(raw) > MAX_POST_BYTES:
        return 413, error_fields("payload_too_large", "a body of at most 1 MiB is required")
    length = int(raw)
    try:
        body = environ["wsgi.input"].read(length)
    except OSError:  # the deadline passed, or the client went away, mid-body
        return 408, error_fields("request_timeout", "the body did not arrive in time")
    try:
        return handler.handle(authorization, body)
    except Exception:
        logger.exception("monitor POST handler failed")
        # 5xx: Alertmanager retries, which is right for the database being away a moment.
        return 500, error_fields("internal_error", "internal error; see the monitor log")
