"""Turn a decoded JSON body into a validated prediction request, or raise a client error."""

from __future__ import annotations

import math
from collections.abc import Sequence
from dataclasses import dataclass
from typing import Any

import numpy as np
from numpy.typing import NDArray

from mlops_pipeline.catalogue import validate_weights
from mlops_pipeline.errors import (
    BatchTooLarge,
    InvalidFeatureValue,
    InvalidFeedback,
    InvalidLabel,
    InvalidUserId,
    InvalidWeights,
    MissingFeatures,
    UnknownVersion,
    WrongFeatureCount,
)
from mlops_pipeline.schema.rows import TypedBatch

MAX_USER_ID_LENGTH = 128
_NUMBER_TYPES = frozenset({int, float})


@dataclass(frozen=True)
class PredictRequest:
    # All-numeric models: shape (n, n_features), all finite. Typed schemas: the checked batch
    # (serving/typed_requests.py), fed to the model and logged as it is.
    rows: NDArray[np.float64] | TypedBatch
    user_id: str | None
    is_batch: bool


def parse_predict_request(
    payload: Any,
    feature_names: Sequence[str],
    max_rows: int,
    header_user_id: str | None = None,
) -> PredictRequest:
    if not isinstance(payload, dict):
        raise MissingFeatures("body must be a JSON object with 'features' or 'instances'")
    user_id = parse_user_id(payload.get("user_id", header_user_id))
    if "instances" in payload:
        rows = _parse_instances(payload["instances"], feature_names, max_rows)
        return PredictRequest(rows, user_id, is_batch=True)
    if "features" in payload:
        row = _parse_row(payload["features"], feature_names, "features")
        return PredictRequest(np.array([row], dtype=np.float64), user_id, is_batch=False)
    raise MissingFeatures("body has neither 'features' (one row) nor 'instances' (a batch)")


def parse_user_id(value: Any) -> str | None:
    if value is None:
        return None
    if isinstance(value, bool) or not isinstance(value, str | int):
        raise InvalidUserId("user_id must be a string or an integer")
    text = str(value)
    if not text or len(text) > MAX_USER_ID_LENGTH:
        raise InvalidUserId(f"user_id must have 1 to {MAX_USER_ID_LENGTH} characters")
    if has_control_characters(text):
        # It is logged and shown in the UI: control characters could forge lines there.
        raise InvalidUserId("user_id must not contain control characters")
    return text


def has_control_characters(text: str) -> bool:
    """C0/C1 control characters and DEL: they forge or break log lines and terminals."""
    return any(ord(char) < 0x20 or 0x7F <= ord(char) <= 0x9F for char in text)


def _parse_instances(
    value: Any, feature_names: Sequence[str], max_rows: int
) -> NDArray[np.float64]:
    if not isinstance(value, list) or not value:
        raise MissingFeatures("'instances' must be a non-empty list of rows")
    if len(value) > max_rows:
        raise BatchTooLarge(f"'instances' has {len(value)} rows; at most {max_rows} are accepted")
    width = len(feature_names)
    # Fast path for the common shape (lists of plain numbers); the slow path names the bad cell.
    if (
        all(type(row) is list and len(row) == width for row in value)
        and {type(cell) for row in value for cell in row} <= _NUMBER_TYPES
    ):
        try:
            rows = np.array(value, dtype=np.float64)
        except OverflowError:
            rows = None
        if rows is not None and bool(np.isfinite(rows).all()):
            return rows
    return np.array(
        [_parse_row(row, feature_names, f"instances[{index}]") for index, row in enumerate(value)],
        dtype=np.float64,
    )


def _parse_row(value: Any, feature_names: Sequence[str], where: str) -> list[float]:
    width = len(feature_names)
    if isinstance(value, list):
        if len(value) != width:
            raise WrongFeatureCount(f"{where} has {len(value)} values; expected {width}")
        # Plain finite numbers (nearly every request) need no per-cell location string; any
        # other cell sends the row through _number, which names it.
        try:
            numbers = [float(cell) for cell in value if type(cell) in _NUMBER_TYPES]
        except OverflowError:
            numbers = []
        if len(numbers) == width and all(map(math.isfinite, numbers)):
            return numbers
        return [_number(cell, f"{where}[{index}]") for index, cell in enumerate(value)]
    if isinstance(value, dict):
        unknown = sorted(set(value) - set(feature_names))
        if unknown:
            raise InvalidFeatureValue(
                f"{where} has unknown feature names {unknown}; expected {list(feature_names)}"
            )
        if len(value) != width:
            missing = [name for name in feature_names if name not in value]
            raise WrongFeatureCount(f"{where} is missing features {missing}")
        return [_number(value[name], f"{where}.{name}") for name in feature_names]
    raise InvalidFeatureValue(
        f"{where} must be a list of {width} numbers or an object keyed by {list(feature_names)}"
    )


def _number(value: Any, where: str) -> float:
    if type(value) not in _NUMBER_TYPES:  # excludes bool, a subclass of int
        raise InvalidFeatureValue(f"{where}: {_preview(value)} is not a number")
    try:
        number = float(value)
    except OverflowError:
        raise InvalidFeatureValue(f"{where}: integer too large") from None
    if not math.isfinite(number):
        raise InvalidFeatureValue(f"{where}: {number} is not a finite number")
    return number


def _preview(value: Any) -> str:
    text = repr(value)
    return text if len(text) <= 40 else text[:37] + "..."


@dataclass(frozen=True)
class FeedbackItem:
    request_id: str
    row_index: int
    label: int  # class index


MAX_FEEDBACK_ITEMS = 10_000
WEIGHT_SUM_TOLERANCE = 1e-6


def parse_feedback(payload: Any, class_names: Sequence[str]) -> list[FeedbackItem]:
    """One object, or a JSON array of them: request_id, optional row_index, true_label."""
    items = payload if isinstance(payload, list) else [payload]
    if not items:
        raise InvalidFeedback("feedback list is empty")
    if len(items) > MAX_FEEDBACK_ITEMS:
        raise InvalidFeedback(f"at most {MAX_FEEDBACK_ITEMS} labels per request")
    return [_feedback_item(item, class_names, index) for index, item in enumerate(items)]


def _feedback_item(item: Any, class_names: Sequence[str], index: int) -> FeedbackItem:
    where = f"feedback[{index}]"
    if not isinstance(item, dict) or "request_id" not in item or "true_label" not in item:
        raise InvalidFeedback(f"{where} must be an object with 'request_id' and 'true_label'")
    request_id, row_index, label = item["request_id"], item.get("row_index", 0), item["true_label"]
    if not isinstance(request_id, str) or not 1 <= len(request_id) <= 64:
        raise InvalidFeedback(f"{where}.request_id must be a string of 1 to 64 characters")
    if type(row_index) is not int or row_index < 0:
        raise InvalidFeedback(f"{where}.row_index must be a non-negative integer")
    if type(label) is int and 0 <= label < len(class_names):
        return FeedbackItem(request_id, row_index, label)
    if isinstance(label, str) and label in class_names:
        return FeedbackItem(request_id, row_index, list(class_names).index(label))
    raise InvalidLabel(
        f"{where}.true_label {_preview(label)} is neither a class index"
        f" 0-{len(class_names) - 1} nor one of {list(class_names)}"
    )


def parse_weights(payload: Any, versions: Sequence[str]) -> dict[str, float]:
    """A full traffic split: known versions, finite non-negative numbers summing to 1.

    Versions left out get weight 0.
    """
    if not isinstance(payload, dict) or not payload:
        raise InvalidWeights('body must be an object of weights, e.g. {"v1": 0.2, "v2": 0.8}')
    unknown = sorted(set(payload) - set(versions))
    if unknown:
        raise UnknownVersion(f"unknown versions {unknown}; served: {list(versions)}")
    weights = {version: payload.get(version, 0) for version in versions}
    try:
        validate_weights(weights)  # the one numeric check (config.validate_weights)
    except ValueError as exc:
        raise InvalidWeights(str(exc)) from None
    weights = {version: float(value) for version, value in weights.items()}
    total = sum(weights.values())
    if abs(total - 1) > WEIGHT_SUM_TOLERANCE:
        raise InvalidWeights(f"weights must sum to 1, got {total:g}")
    return weights
