"""The gRPC server around the servicer: bound strictly, bounded, stopped gracefully."""

from __future__ import annotations

import os
import threading
from concurrent.futures import ThreadPoolExecutor

import grpc

from mlops_pipeline.rpc.service import SERVICE, InferenceServicer
from mlops_pipeline.rpc.v2 import grpc_predict_v2_pb2 as pb
from mlops_pipeline.telemetry.rpc_spans import traced_rpc
from mlops_pipeline.telemetry.tracing import tracing_on

# Handlers hold the GIL while they run, so more threads only queue; a few cover the moments a
# handler waits on the database. Beyond MAX_CONCURRENT calls, new ones are refused at once
# (RESOURCE_EXHAUSTED) instead of piling up behind a slow log.
THREADS = 8
MAX_CONCURRENT = 256
GRACE_SECONDS = 10.0


class BindError(RuntimeError):
    """The gRPC port could not be bound (taken, or not an address of this machine)."""


def grpc_server(
    servicer: InferenceServicer, host: str, port: int, max_message_bytes: int
) -> tuple[grpc.Server, int]:
    """A server bound to ``host:port`` (0: any free port) and the port it got; not started."""
    server = grpc.server(
        ThreadPoolExecutor(max_workers=THREADS, thread_name_prefix="grpc"),
        maximum_concurrent_rpcs=MAX_CONCURRENT,
        options=[
            # gRPC sets SO_REUSEPORT by default: a second server on a taken port would silently
            # share it and take half the calls. Off, binding a taken port fails as it should.
            ("grpc.so_reuseport", 0),
            ("grpc.max_receive_message_length", max_message_bytes),
            ("grpc.max_send_message_length", max_message_bytes),
        ],
    )
    server.add_generic_rpc_handlers((method_handlers(servicer),))
    address = f"[{host}]:{port}" if ":" in host else f"{host}:{port}"
    try:
        bound = server.add_insecure_port(address)
    except RuntimeError as exc:  # grpcio raises instead of returning 0 in some versions
        raise BindError(f"cannot bind the gRPC port {address}: {exc}") from None
    if bound == 0:
        raise BindError(f"cannot bind the gRPC port {address}: taken or not a local address")
    return server, bound


REQUEST_TYPES = {
    "ServerLive": pb.ServerLiveRequest,
    "ServerReady": pb.ServerReadyRequest,
    "ServerMetadata": pb.ServerMetadataRequest,
    "ModelReady": pb.ModelReadyRequest,
    "ModelMetadata": pb.ModelMetadataRequest,
    "ModelInfer": pb.ModelInferRequest,
}


def method_handlers(servicer: InferenceServicer) -> grpc.GenericRpcHandler:
    """The six RPCs, taking raw bytes: the servicer decodes them, so a body that is not the
    message answers INVALID_ARGUMENT (grpcio's own decoding would answer INTERNAL)."""
    # Traced only while tracing is on: off, the servicer's behaviour is registered as it is.
    wrap = traced_rpc if tracing_on() else lambda _service, _method, behaviour: behaviour
    handlers = {
        name: grpc.unary_unary_rpc_method_handler(
            wrap(SERVICE, name, servicer.decoding(name, request_type)),
            request_deserializer=None,
            response_serializer=lambda message: message.SerializeToString(),
        )
        for name, request_type in REQUEST_TYPES.items()
    }
    return grpc.method_handlers_generic_handler(SERVICE, handlers)


def serve_until(server: grpc.Server, stop: threading.Event) -> None:
    """Serve until ``stop`` is set, then finish the calls in flight (new ones are refused)."""
    server.start()
    stop.wait()
    server.stop(GRACE_SECONDS).wait()


def mark_process_dead() -> None:
    """Drop this process's live gauges from the shared metric files (its counters stay)."""
    if os.environ.get("PROMETHEUS_MULTIPROC_DIR"):
        from prometheus_client import multiprocess

        multiprocess.mark_process_dead(os.getpid())  # type: ignore[no-untyped-call]
