"""The processes that serve with ``Components``: an HTTP worker, the gRPC service, the monitor.

One floor above the composition root (bootstrap.py builds the components) and the transports
it starts (the Flask app, the gRPC server): each builder here takes settings, builds its
metrics and components, starts them, and returns a value whose ``close`` stops what it started.
"""

from __future__ import annotations

import os
from dataclasses import dataclass
from typing import TYPE_CHECKING

from prometheus_client import CollectorRegistry

from mlops_pipeline.api import create_app
from mlops_pipeline.api.inference import WSGIApp
from mlops_pipeline.api.openapi import openapi_spec
from mlops_pipeline.bootstrap import build_components
from mlops_pipeline.components import Components
from mlops_pipeline.config import Settings
from mlops_pipeline.credentials import token_problems
from mlops_pipeline.monitoring.leader import LeaderElection, Monitor, monitor_identity
from mlops_pipeline.monitoring.metrics import Metrics, exposition_registry, multiprocess_enabled
from mlops_pipeline.protocol.access_log import AccessLog
from mlops_pipeline.protocol.clients import ClientKeys
from mlops_pipeline.telemetry.tracing import start_tracing, stop_tracing
from mlops_pipeline.telemetry.wsgi import traced

if TYPE_CHECKING:
    import grpc


def serving_metrics() -> tuple[Metrics, CollectorRegistry]:
    """Multiprocess metrics when the start script asked for them (workers share their files)."""
    if multiprocess_enabled():
        return Metrics(registry=None), exposition_registry()
    registry = CollectorRegistry()
    return Metrics(registry), registry


@dataclass(frozen=True)
class HttpWorker:
    """One HTTP worker's app and what it runs on; ``close`` at the worker's exit (wsgi.py)."""

    app: WSGIApp
    components: Components

    def close(self) -> None:
        self.components.close()
        stop_tracing()  # exports the spans still buffered


def build_worker(settings: Settings) -> HttpWorker:
    """The production app, its periodic syncs started."""
    problems = token_problems(settings)
    if problems:  # `mlops serve` says so first; this guards a server started some other way
        raise ValueError("; ".join(problems))
    metrics, registry = serving_metrics()
    components = build_components(settings, metrics, publish_gauges=False)
    components.start(settings)
    app: WSGIApp = create_app(settings, components, registry)
    if start_tracing("mlops-api", os.environ):  # off: the app is served unwrapped
        service = components.service
        spec = openapi_spec(
            settings.model_name, list(service.feature_names), len(service.class_names)
        )
        app = traced(app, spec["paths"])
    return HttpWorker(app, components)


def build_app(settings: Settings) -> WSGIApp:
    """The production app alone (benchmarks); a server uses ``build_worker`` to close it."""
    return build_worker(settings).app


def build_grpc(settings: Settings) -> GrpcProcess:
    """The V2 gRPC service: its own process beside the HTTP workers, sharing their metric files."""
    from mlops_pipeline.rpc.server import grpc_server
    from mlops_pipeline.rpc.service import InferenceServicer

    metrics = Metrics(registry=None) if multiprocess_enabled() else Metrics(CollectorRegistry())
    components = build_components(settings, metrics, publish_gauges=False)
    components.start(settings)
    start_tracing("mlops-api", os.environ)  # before the handlers: they are wrapped only if on
    servicer = InferenceServicer(
        components.service,
        metrics,
        settings.model_name,
        settings.max_batch_rows,
        AccessLog(enabled=settings.access_log),
        clients=ClientKeys.from_settings(settings),
    )
    server, _port = grpc_server(
        servicer, settings.host, settings.grpc_port, settings.max_body_bytes
    )
    return GrpcProcess(server, components)


@dataclass(frozen=True)
class GrpcProcess:
    server: grpc.Server
    components: Components

    def close(self) -> None:
        self.components.close()
        stop_tracing()


@dataclass(frozen=True)
class MonitorProcess:
    monitor: Monitor
    registry: CollectorRegistry
    components: Components


def build_monitor(settings: Settings, identity: str | None = None) -> MonitorProcess:
    """`mlops monitor`: the drift, experiment and retention role, leader-elected."""
    registry = CollectorRegistry()
    metrics = Metrics(registry)
    # The monitor answers no request, so it needs no shadow scorer.
    components = build_components(settings.model_copy(update={"shadow_version": None}), metrics)
    if components.storage is None:
        raise ValueError("the monitor reads the prediction log: enable MLOPS_LOG_PREDICTIONS")

    def leadership(leader: bool) -> None:
        metrics.set_monitor_leader(leader)
        if not leader:  # a standby must not keep exporting what it computed as leader
            metrics.clear_monitor_gauges()

    identity = identity or monitor_identity()
    monitor = Monitor(
        LeaderElection(components.storage.database.lock("monitor")),
        components.storage.reports,
        components.monitor_tasks(settings, identity),
        on_leadership=leadership,
        identity=identity,
    )
    metrics.set_monitor_leader(False)
    return MonitorProcess(monitor, registry, components)
