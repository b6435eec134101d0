"""A typed schema's requests: ``/predict`` bodies and V2 named inputs as a PredictRequest.

The schema package checks the values (schema/bodies.py, schema/v2_inputs.py, both ending in
schema/rows.py); this module is where their RowError becomes the client error the transports
answer with (errors.ROW_ERRORS: a 400 whose code is the RowError's and whose message names the
row and column), and where each answered request's unseen categories are counted.

Which parser a server uses is decided once, when it loads its models (:func:`typed_schema`):
an all-numeric schema, or none, keeps today's float-vector parsing untouched.
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

from mlops_pipeline.errors import ROW_ERRORS, ApiError
from mlops_pipeline.schema.bodies import batch_from_body
from mlops_pipeline.schema.model import FeatureSchema
from mlops_pipeline.schema.rows import RowError, TypedBatch
from mlops_pipeline.serving.validation import PredictRequest, parse_user_id


def typed_schema(schema: FeatureSchema | None) -> FeatureSchema | None:
    """The schema when requests must be parsed as typed rows; None for the float-vector path
    (no schema, or every column a required number: positional rows and a single tensor)."""
    return None if schema is None or schema.all_numeric else schema


def row_api_error(error: RowError) -> ApiError:
    """The client error for ``error``: its code, and its message naming the row and column."""
    return ROW_ERRORS[error.code](str(error))


def parse_typed_predict(
    payload: Any, schema: FeatureSchema, max_rows: int, header_user_id: str | None = None
) -> PredictRequest:
    """A ``/predict`` body (features object, instances, dataframe_split or dataframe_records)
    checked against ``schema``; a single ``features`` row answers as one prediction."""
    try:
        batch = batch_from_body(payload, schema, max_rows)
    except RowError as error:
        raise row_api_error(error) from None
    user_id = parse_user_id(payload.get("user_id", header_user_id))
    return PredictRequest(batch, user_id, is_batch=batch.form != "features")


def unseen_counts(batch: TypedBatch) -> Mapping[str, int]:
    """The string columns with values outside their training categories, and how many."""
    return {column: count for column, count in batch.unseen.items() if count}
