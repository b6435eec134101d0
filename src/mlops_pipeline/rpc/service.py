"""The V2 gRPC servicer: the same prediction service, router, log and metrics as the REST API.

Each RPC maps the project's errors to gRPC status codes (``status_of``, the one place): a client
mistake is INVALID_ARGUMENT (or NOT_FOUND for a model or version that is not served), a database
that cannot take the log write is UNAVAILABLE, anything else INTERNAL with the request id; never
a traceback. What an error is, and what the client may be told, comes from protocol/, which the
REST API shares.
"""

from __future__ import annotations

import time
from collections.abc import Callable
from typing import Any

import grpc
import numpy as np
from google.protobuf.message import DecodeError
from numpy.typing import NDArray

from mlops_pipeline import __version__
from mlops_pipeline.errors import ApiError, ProtocolError, Unauthorized
from mlops_pipeline.monitoring.metrics import Metrics
from mlops_pipeline.protocol.access_log import AccessLog, new_request_id
from mlops_pipeline.protocol.client_errors import client_error, echo, shows_request_id
from mlops_pipeline.protocol.clients import ClientKeys
from mlops_pipeline.protocol.v2 import check_model, check_version, model_metadata
from mlops_pipeline.rpc.tensors import infer_response, request_rows, requested_names
from mlops_pipeline.rpc.typed_tensors import typed_request_batch
from mlops_pipeline.rpc.v2 import grpc_predict_v2_pb2 as pb
from mlops_pipeline.schema.rows import RowError, TypedBatch
from mlops_pipeline.schema.v2_inputs import model_metadata_inputs
from mlops_pipeline.serving.service import PredictionService
from mlops_pipeline.serving.typed_requests import row_api_error, typed_schema, unseen_counts
from mlops_pipeline.serving.validation import PredictRequest

SERVICE = "inference.GRPCInferenceService"
# The HTTP status each outcome would have had over REST: metrics and the access log keep one
# vocabulary for both protocols (the endpoint label tells them apart).
STATUS_CODES = {
    400: grpc.StatusCode.INVALID_ARGUMENT,
    401: grpc.StatusCode.UNAUTHENTICATED,
    403: grpc.StatusCode.PERMISSION_DENIED,
    404: grpc.StatusCode.NOT_FOUND,
    413: grpc.StatusCode.INVALID_ARGUMENT,
    500: grpc.StatusCode.INTERNAL,
    502: grpc.StatusCode.INTERNAL,  # the model failed or answered invalidly; message names it
    503: grpc.StatusCode.UNAVAILABLE,
    504: grpc.StatusCode.DEADLINE_EXCEEDED,  # the model ran past MLOPS_INFERENCE_TIMEOUT_MS
}


# A status message travels percent-encoded in a trailer (grpc-message, up to 12 bytes a
# character) and clients refuse metadata beyond 8 KiB: 500 characters always fit.
MAX_MESSAGE_CHARS = 500


class Aborted(Exception):
    """Raised by the context's abort; carries nothing, the status is already set."""


class InferenceServicer:
    def __init__(
        self,
        service: PredictionService,
        metrics: Metrics,
        model_name: str,
        max_rows: int,
        log: AccessLog,
        timer: Callable[[], float] = time.perf_counter,
        clients: ClientKeys | None = None,
    ) -> None:
        self._service = service
        self._clients = clients if clients is not None else ClientKeys({})
        self._metrics = metrics
        self._model_name = model_name
        self._max_rows = max_rows
        self._log = log
        self._timer = timer
        # Decided once: a typed schema takes one named input per column; None keeps the single
        # [N, k] float tensor (Iris, numeric CSVs) on exactly the code it always ran.
        self._schema = typed_schema(service.schema)

    def decoding(self, name: str, request_type: Any) -> Callable[[bytes, Any], Any]:
        """The RPC ``name`` taking the serialized request; undecodable bytes are the client's."""
        method = getattr(self, name)

        def handle(data: bytes, context: grpc.ServicerContext) -> Any:
            try:
                request = request_type.FromString(data)
            except DecodeError:
                # Answered, counted and logged like every other refused call: a client probing
                # with garbage is seen.
                return self._answer(name, context, undecodable)
            return method(request, context)

        def undecodable() -> Any:
            full_name = request_type.DESCRIPTOR.full_name
            raise ProtocolError(f"the request is not a valid {full_name} message")

        return handle

    def ServerLive(self, request: Any, context: grpc.ServicerContext) -> Any:  # noqa: N802
        return pb.ServerLiveResponse(live=True)

    def ServerReady(self, request: Any, context: grpc.ServicerContext) -> Any:  # noqa: N802
        return pb.ServerReadyResponse(ready=self._service.ready)

    def ServerMetadata(self, request: Any, context: grpc.ServicerContext) -> Any:  # noqa: N802
        return pb.ServerMetadataResponse(name="mlops-pipeline", version=__version__)

    def ModelReady(self, request: Any, context: grpc.ServicerContext) -> Any:  # noqa: N802
        def ready() -> Any:
            self._known(request.name, request.version)
            return pb.ModelReadyResponse(ready=self._service.ready)

        return self._answer("ModelReady", context, ready)

    def ModelMetadata(self, request: Any, context: grpc.ServicerContext) -> Any:  # noqa: N802
        def metadata() -> Any:
            self._known(request.name, request.version)
            service = self._service
            described = model_metadata(
                request.name,
                service.versions,
                len(service.feature_names),
                len(service.class_names),
            )
            if self._schema is not None:  # one named [-1, 1] input per column
                described["inputs"] = model_metadata_inputs(self._schema)
            return pb.ModelMetadataResponse(**described)

        return self._answer("ModelMetadata", context, metadata)

    def ModelInfer(self, request: Any, context: grpc.ServicerContext) -> Any:  # noqa: N802
        request_id = new_request_id()
        versions: list[str | None] = [None]

        def infer() -> Any:
            version = request.model_version or None
            self._known(request.model_name, request.model_version)
            client = self._identify(context)
            if version is not None:
                self._clients.check_pin(
                    _authorization(context), self._service.router.weights.get(version, 0.0)
                )
            rows = self._rows(request)
            names = requested_names(request)
            result = self._service.predict(
                PredictRequest(rows, None, is_batch=_n_rows(rows) > 1), request_id, version, client
            )
            versions[0] = result.model_version
            return infer_response(
                self._model_name,
                result.model_version,
                request.id,
                names,
                result.classes,
                result.probabilities,
            )

        return self._answer("ModelInfer", context, infer, request_id, versions)

    def _rows(self, request: Any) -> NDArray[np.float64] | TypedBatch:
        """The float rows of the one tensor, or a typed schema's named inputs as a TypedBatch
        (its mistakes counted as rejections, its unseen categories counted, as over REST)."""
        if self._schema is None:
            return request_rows(request, len(self._service.feature_names), self._max_rows)
        try:
            batch = typed_request_batch(request, self._schema, self._max_rows)
        except RowError as error:
            self._service.record_rejection(error.code)
            raise row_api_error(error) from None
        counts = unseen_counts(batch)
        if counts:
            self._metrics.count_unseen_categories(counts)
        return batch

    def _identify(self, context: grpc.ServicerContext) -> str:
        """Who calls: the prediction key's name (metadata ``authorization``), or the anonymous
        identity of the peer's address (its port dropped: each connection has a new one)."""
        address = context.peer().rpartition(":")[0]
        try:
            return self._clients.identify(_authorization(context), None, address)
        except Unauthorized as error:
            self._log.event(
                "auth_failure",
                role="predict",
                reason=error.message,
                method="POST",
                path=f"/{SERVICE}/ModelInfer",
                client=context.peer(),
            )
            raise

    def _known(self, name: str, version: str) -> None:
        # Names echoed bounded: a status message travels in a size-limited trailer.
        check_model(name, self._model_name, echo)
        check_version(name, version, self._service.versions, echo)

    def _answer(
        self,
        method: str,
        context: grpc.ServicerContext,
        work: Callable[[], Any],
        request_id: str | None = None,
        versions: list[str | None] | None = None,
    ) -> Any:
        """Run ``work``; count, log and map its errors like the REST endpoints do."""
        started = self._timer()
        request_id = request_id or new_request_id()
        context.set_trailing_metadata((("x-request-id", request_id),))
        status, code, message = 200, grpc.StatusCode.OK, ""
        try:
            response = work()
        except Exception as exc:
            error = client_error(exc, request_id)
            self._metrics.count_error(error.code)
            status = error.status
            code, message = status_of(error, request_id)
        elapsed = self._timer() - started
        self._metrics.observe_request(f"/{SERVICE}/{method}", "POST", status, elapsed)
        if self._log.enabled:
            version = versions[0] if versions else None
            self._log.request(
                request_id,
                "POST",
                f"/{SERVICE}/{method}",
                status,
                elapsed * 1000,
                context.peer(),
                version,
            )
        if code is not grpc.StatusCode.OK:
            context.abort(code, message)
        return response


def status_of(error: ApiError, request_id: str) -> tuple[grpc.StatusCode, str]:
    """gRPC's one place where an error becomes what the client sees: the status code its HTTP
    status maps to, and the message, bounded to fit the trailer it travels in."""
    message = error.message
    if shows_request_id(error):
        message = f"{message} (request {request_id})"
    if len(message) > MAX_MESSAGE_CHARS:  # whatever else repeats client text
        message = message[:MAX_MESSAGE_CHARS] + "…"
    return STATUS_CODES.get(error.status, grpc.StatusCode.INTERNAL), message


def _n_rows(rows: NDArray[np.float64] | TypedBatch) -> int:
    return rows.n_rows if isinstance(rows, TypedBatch) else len(rows)


def _authorization(context: grpc.ServicerContext) -> str | None:
    for key, value in context.invocation_metadata() or ():
        if key == "authorization" and isinstance(value, str):
            return value
    return None
