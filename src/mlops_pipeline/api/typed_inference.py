"""The inference endpoints for a typed schema: ``/predict`` by column name and V2 named inputs.

A subclass of InferenceEndpoints chosen once, when the app is built (:func:`inference_endpoints`),
so the float-vector path (Iris, numeric CSVs) runs exactly the code it ran before, with nothing
added per request. Authentication, body reading, the answer shape and the error answers are the
base class's; what differs is parsing (serving/typed_requests.py, protocol/v2_typed.py), the
count of unseen categories per column, and the class names, which are the schema task's.
"""

from __future__ import annotations

from typing import Any

import numpy as np

from mlops_pipeline.api.bodies import read_json
from mlops_pipeline.api.inference import REQUEST_ID, Answer, InferenceEndpoints, dumps
from mlops_pipeline.config import Settings
from mlops_pipeline.errors import ROW_ERRORS, ApiError
from mlops_pipeline.protocol.access_log import AccessLog
from mlops_pipeline.protocol.clients import anonymous_identity
from mlops_pipeline.protocol.v2 import check_version, infer_response
from mlops_pipeline.protocol.v2_typed import parse_typed_infer
from mlops_pipeline.schema.model import FeatureSchema
from mlops_pipeline.schema.rows import RowError, TypedBatch
from mlops_pipeline.serving.service import PredictionService
from mlops_pipeline.serving.typed_requests import (
    parse_typed_predict,
    row_api_error,
    typed_schema,
    unseen_counts,
)
from mlops_pipeline.serving.validation import PredictRequest


def inference_endpoints(
    settings: Settings, service: PredictionService, log: AccessLog | None = None
) -> InferenceEndpoints:
    """The endpoints for what the service serves: typed when its schema is, else today's."""
    schema = typed_schema(service.schema)
    if schema is None:
        return InferenceEndpoints(settings, service, log)
    return TypedInferenceEndpoints(settings, service, schema, log)


class TypedInferenceEndpoints(InferenceEndpoints):
    def __init__(
        self,
        settings: Settings,
        service: PredictionService,
        schema: FeatureSchema,
        log: AccessLog | None = None,
    ) -> None:
        super().__init__(settings, service, log)
        self._schema = schema
        self._class_names = list(schema.task.classes)

    def _predict(self, environ: dict[str, Any]) -> Answer:
        service = self._service
        client = self._identify(environ, "/predict")
        try:
            parsed = parse_typed_predict(
                read_json(environ, self._settings.max_body_bytes),
                self._schema,
                self._settings.max_batch_rows,
                header_user_id=environ.get("HTTP_X_USER_ID"),
            )
        except ApiError as error:
            if error.code in ROW_ERRORS:
                service.record_rejection(error.code)  # bad inputs are a drift signal too
            raise
        self._count_unseen(parsed.rows)
        if client is None:
            client = anonymous_identity(parsed.user_id, environ.get("REMOTE_ADDR"))
        result = service.predict(parsed, environ[REQUEST_ID], client_id=client)
        names = [self._class_names[index] for index in result.classes.tolist()]
        if parsed.is_batch:
            body: dict[str, Any] = {
                "request_id": result.request_id,
                "predictions": result.classes,
                "class_names": names,
                "probabilities": result.probabilities,
            }
        else:
            body = {
                "request_id": result.request_id,
                "prediction": int(result.classes[0]),
                "class_name": names[0],
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
        try:
            infer = parse_typed_infer(payload, self._schema, self._settings.max_batch_rows, binary)
        except RowError as error:
            service.record_rejection(error.code)
            raise row_api_error(error) from None
        self._count_unseen(infer.batch)
        result = service.predict(
            PredictRequest(infer.batch, None, is_batch=infer.batch.n_rows > 1),
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

    def _count_unseen(self, rows: object) -> None:
        if isinstance(rows, TypedBatch):
            counts = unseen_counts(rows)
            if counts:
                self._metrics.count_unseen_categories(counts)
