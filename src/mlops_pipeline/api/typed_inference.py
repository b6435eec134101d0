"""The inference endpoints for a typed schema: ``/predict`` by column name and V2 named inputs.

A subclass of InferenceEndpoints chosen once, when the app is built (:func:`inference_endpoints`),
so the float-vector path (Iris, numeric CSVs) runs exactly the code it ran before, with nothing
added per request. Authentication, body reading, the answer shape and the error answers are the
base class's; what differs is parsing (serving/typed_requests.py, protocol/v2_typed.py), the
count of unseen categories per column, and the class names, which are the schema task's.
"""

from __future__ import annotations

from typing import Any

from mlops_pipeline.api.bodies import read_json
from mlops_pipeline.api.inference import InferenceEndpoints, InferInput
from mlops_pipeline.config import Settings
from mlops_pipeline.errors import ROW_ERRORS, ApiError
from mlops_pipeline.protocol.access_log import AccessLog
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

    def _parse_predict(self, environ: dict[str, Any]) -> PredictRequest:
        try:
            parsed = parse_typed_predict(
                read_json(environ, self._settings.max_body_bytes),
                self._schema,
                self._settings.max_batch_rows,
                header_user_id=environ.get("HTTP_X_USER_ID"),
            )
        except ApiError as error:
            if error.code in ROW_ERRORS:
                self._service.record_rejection(error.code)  # bad inputs are a drift signal too
            raise
        self._count_unseen(parsed.rows)
        return parsed

    def _parse_infer(self, payload: Any, binary: bytes | None) -> InferInput:
        try:
            infer = parse_typed_infer(payload, self._schema, self._settings.max_batch_rows, binary)
        except RowError as error:
            self._service.record_rejection(error.code)
            raise row_api_error(error) from None
        self._count_unseen(infer.batch)
        return InferInput(infer.batch, infer.batch.n_rows, infer.id, infer.outputs)

    def _count_unseen(self, rows: object) -> None:
        if isinstance(rows, TypedBatch):
            counts = unseen_counts(rows)
            if counts:
                self._metrics.count_unseen_categories(counts)
