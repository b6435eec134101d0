"""The inference endpoints, answered before Flask: POST /predict and POST /v2/models/<m>/infer.

They carry nearly all traffic, and Flask's per-request machinery (contexts, hooks, routing,
response objects) costs more than the model. ``InferenceEndpoints.answer`` is the one
implementation: the ``FastPath`` middleware calls it for those two paths, and the Flask views
(registered so other methods get 405 and the paths appear in the URL map) call it too.
"""

from __future__ import annotations

import time
from collections.abc import Callable, Iterable
from dataclasses import dataclass
from http import HTTPStatus
from typing import Any

import numpy as np
import orjson

from mlops_pipeline.api.bodies import is_json_media_type, parse_json, read_body, read_json
from mlops_pipeline.api.error_answers import error_answer
from mlops_pipeline.config import Settings
from mlops_pipeline.errors import (
    InvalidFeatureValue,
    Unauthorized,
    UnsupportedMediaType,
    WrongFeatureCount,
)
from mlops_pipeline.monitoring.metrics import Metrics
from mlops_pipeline.protocol.access_log import AccessLog, new_request_id
from mlops_pipeline.protocol.clients import ClientKeys, anonymous_identity
from mlops_pipeline.protocol.v2 import (
    check_version,
    infer_response,
    parse_infer_request,
    split_binary_body,
)
from mlops_pipeline.serving.service import PredictionService
from mlops_pipeline.serving.validation import PredictRequest, parse_predict_request

# Keys this app adds to the WSGI environ of each request.
REQUEST_ID = "mlops.request_id"
STARTED = "mlops.started"
MODEL_VERSION = "mlops.model_version"

WSGIApp = Callable[[dict[str, Any], Callable[..., Any]], Iterable[bytes]]
JSON_HEADERS = ("Content-Type", "application/json")
STATUS_LINES = {status.value: f"{status.value} {status.phrase}" for status in HTTPStatus}


def dumps(body: Any) -> bytes:
    # numpy arrays serialized directly: a 10,000-row answer in ~5 ms instead of ~100 ms.
    return orjson.dumps(body, option=orjson.OPT_SERIALIZE_NUMPY)


@dataclass(frozen=True)
class Answer:
    status: int
    body: bytes
    model_version: str | None = None
    # Set for a binary tensor answer: the length of the JSON header that starts the body.
    header_length: int | None = None

    def headers(self) -> list[tuple[str, str]]:
        if self.header_length is None:
            return [JSON_HEADERS, ("Content-Length", str(len(self.body)))]
        return [
            ("Content-Type", "application/octet-stream"),
            ("Content-Length", str(len(self.body))),
            ("Inference-Header-Content-Length", str(self.header_length)),
        ]


@dataclass(frozen=True)
class InferInput:
    """A parsed V2 infer body: the rows (floats, or a typed schema's TypedBatch) and the rest."""

    rows: Any
    n_rows: int
    id: str | None
    outputs: Any


class InferenceEndpoints:
    def __init__(
        self, settings: Settings, service: PredictionService, log: AccessLog | None = None
    ) -> None:
        self._settings = settings
        self._service = service
        self._clients = ClientKeys.from_settings(settings)
        self._log = log
        self._metrics = service.metrics
        self._class_names = list(service.class_names)
        self.infer_path = f"/v2/models/{settings.model_name}/infer"

    def answer(self, environ: dict[str, Any], version: str | None = None) -> Answer:
        """Any outcome, errors included, as an answer; counts errors like every other route."""
        try:
            if environ.get("PATH_INFO") == "/predict":
                return self._predict(environ)
            return self._infer(environ, version)
        except Exception as exc:
            status, fields = error_answer(exc, environ.get(REQUEST_ID, ""), self._metrics)
            return Answer(status, dumps(fields))

    def _identify(self, environ: dict[str, Any], path: str) -> str | None:
        """The prediction key's name, None when anyone may predict (the anonymous identity needs
        the body's user id), or Unauthorized (logged) before the body is read."""
        if not self._clients.required:
            return None
        try:
            return self._clients.identify(environ.get("HTTP_AUTHORIZATION"), None, None)
        except Unauthorized as error:
            if self._log is not None:
                self._log.event(
                    "auth_failure",
                    role="predict",
                    reason=error.message,
                    method="POST",
                    path=path,
                    client=environ.get("REMOTE_ADDR"),
                )
            raise

    def _parse_predict(self, environ: dict[str, Any]) -> PredictRequest:
        """The /predict body as rows of floats (typed schemas: TypedInferenceEndpoints)."""
        try:
            return parse_predict_request(
                read_json(environ, self._settings.max_body_bytes),
                self._service.feature_names,
                self._settings.max_batch_rows,
                header_user_id=environ.get("HTTP_X_USER_ID"),
            )
        except (WrongFeatureCount, InvalidFeatureValue) as error:
            self._service.record_rejection(error.code)  # bad inputs are a drift signal too
            raise

    def _parse_infer(self, payload: Any, binary: bytes | None) -> InferInput:
        """A V2 infer body as rows of floats: (rows, row count, request id, outputs asked)."""
        infer = parse_infer_request(
            payload, len(self._service.feature_names), self._settings.max_batch_rows, binary
        )
        return InferInput(infer.rows, len(infer.rows), infer.id, infer.outputs)

    def _predict(self, environ: dict[str, Any]) -> Answer:
        service = self._service
        client = self._identify(environ, "/predict")
        parsed = self._parse_predict(environ)
        if client is None:
            client = anonymous_identity(parsed.user_id, environ.get("REMOTE_ADDR"))
        result = service.predict(parsed, environ[REQUEST_ID], client_id=client)
        classes = result.classes
        if parsed.is_batch:
            body: dict[str, Any] = {
                "request_id": result.request_id,
                "predictions": classes,
                "class_names": [self._class_names[index] for index in classes.tolist()],
                "probabilities": result.probabilities,
            }
        else:
            predicted = int(classes[0])
            body = {
                "request_id": result.request_id,
                "prediction": predicted,
                "class_name": self._class_names[predicted],
                "probabilities": result.probabilities[0],
            }
        body["model_version"] = result.model_version
        body["latency_ms"] = round(result.latency_ms, 4)
        return Answer(200, dumps(body), result.model_version)

    def _infer(self, environ: dict[str, Any], version: str | None) -> Answer:
        service = self._service
        if version is not None:  # the model's name: checked by the route (api/routes.py)
            check_version(self._settings.model_name, version, service.versions)
        client = self._identify(environ, environ.get("PATH_INFO", ""))
        if version is not None:
            self._clients.check_pin(
                environ.get("HTTP_AUTHORIZATION"), service.router.weights.get(version, 0.0)
            )
        payload, binary = self._infer_body(environ)
        infer = self._parse_infer(payload, binary)
        result = service.predict(
            PredictRequest(infer.rows, None, is_batch=infer.n_rows > 1),
            environ[REQUEST_ID],
            version,
            client or anonymous_identity(None, environ.get("REMOTE_ADDR")),
        )
        body, chunks = infer_response(
            self._settings.model_name,
            result.model_version,
            infer.id,
            result.classes,
            np.asarray(result.probabilities),
            infer.outputs,
        )
        header = dumps(body)
        if not chunks:
            return Answer(200, header, result.model_version)
        return Answer(200, b"".join([header, *chunks]), result.model_version, len(header))

    def _infer_body(self, environ: dict[str, Any]) -> tuple[Any, bytes | None]:
        """(JSON payload, tensor bytes after it or None) per the binary tensor data extension.

        Triton and KServe clients send no Content-Type, so none is accepted here, unlike the
        other POST routes. That stays safe: a cross-site page can make a browser send this only
        as plain inference (open to any caller anyway), and the binary form needs a custom
        header, which browsers never send cross-site without a CORS preflight this API refuses.
        """
        header_length = environ.get("HTTP_INFERENCE_HEADER_CONTENT_LENGTH")
        if header_length is None:
            content_type = environ.get("CONTENT_TYPE", "")
            if content_type and not is_json_media_type(content_type):
                raise UnsupportedMediaType(
                    "send the body as JSON, or as JSON plus binary tensors with "
                    "'Inference-Header-Content-Length'"
                )
            return parse_json(read_body(environ, self._settings.max_body_bytes)), None
        header, binary = split_binary_body(
            read_body(environ, self._settings.max_body_bytes), header_length
        )
        return parse_json(header), binary


class FastPath:
    """WSGI middleware: the two inference paths answered directly, everything else by Flask.

    It does for them what Flask's hooks do for the other routes: request id, timing, the request
    metrics, the ``X-Request-ID`` header and the access log line.
    """

    def __init__(
        self, app: WSGIApp, endpoints: InferenceEndpoints, metrics: Metrics, log: AccessLog
    ) -> None:
        self._app = app
        self._endpoints = endpoints
        self._log = log
        self._metrics = metrics
        self._routes = {"/predict": "/predict", endpoints.infer_path: "/v2/models/<name>/infer"}

    def __call__(
        self, environ: dict[str, Any], start_response: Callable[..., Any]
    ) -> Iterable[bytes]:
        route = self._routes.get(environ.get("PATH_INFO", ""))
        if route is None or environ["REQUEST_METHOD"] != "POST":
            return self._app(environ, start_response)
        started = time.perf_counter()
        request_id = environ[REQUEST_ID] = new_request_id()
        answer = self._endpoints.answer(environ)
        headers = answer.headers()
        headers.append(("X-Request-ID", request_id))
        start_response(STATUS_LINES[answer.status], headers)
        elapsed = time.perf_counter() - started
        self._metrics.observe_request(route, "POST", answer.status, elapsed)
        if self._log.enabled:
            self._log.request(
                request_id,
                "POST",
                route,
                answer.status,
                elapsed * 1000,
                environ.get("REMOTE_ADDR"),
                answer.model_version,
            )
        return [answer.body]
