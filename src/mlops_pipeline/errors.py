"""Client-visible errors: each carries an HTTP status and a stable code. No web framework here."""

from __future__ import annotations


class ApiError(Exception):
    status = 400
    code = "bad_request"

    def __init__(self, message: str) -> None:
        super().__init__(message)
        self.message = message


class InvalidJSON(ApiError):
    code = "invalid_json"


class MissingFeatures(ApiError):
    code = "missing_features"


class WrongFeatureCount(ApiError):
    code = "wrong_feature_count"


class InvalidFeatureValue(ApiError):
    code = "invalid_feature_value"


class InvalidUserId(ApiError):
    code = "invalid_user_id"


class InvalidParameter(ApiError):
    code = "invalid_parameter"


class BatchTooLarge(ApiError):
    status = 413
    code = "batch_too_large"


class NotReady(ApiError):
    status = 503
    code = "not_ready"


class DriftUnavailable(ApiError):
    status = 503
    code = "drift_unavailable"


class InvalidFeedback(ApiError):
    code = "invalid_feedback"


class InvalidLabel(ApiError):
    code = "invalid_label"


class UnknownRequest(ApiError):
    status = 404
    code = "unknown_request"


class InvalidWeights(ApiError):
    code = "invalid_weights"


class UnknownVersion(ApiError):
    code = "unknown_version"


class Unauthorized(ApiError):
    status = 401
    code = "unauthorized"


class Forbidden(ApiError):
    status = 403
    code = "forbidden"


class PinForbidden(ApiError):
    status = 403
    code = "pin_forbidden"


class AdminDisabled(ApiError):
    status = 403
    code = "admin_disabled"


class ExperimentUnavailable(ApiError):
    status = 503
    code = "experiment_unavailable"


class LogUnavailable(ApiError):
    status = 503
    code = "log_unavailable"


class StorageUnavailable(ApiError):
    """The database cannot answer or take a write (outage, full disk): 503, never a 500."""

    status = 503
    code = "storage_unavailable"


class ProtocolError(ApiError):
    code = "invalid_inference_request"


class ModelNotFound(ApiError):
    status = 404
    code = "model_not_found"


class FeedbackDisabled(ApiError):
    status = 403
    code = "feedback_disabled"


class UnsupportedMediaType(ApiError):
    status = 415
    code = "unsupported_media_type"


class InvalidActor(ApiError):
    code = "invalid_actor"


class PayloadTooLarge(ApiError):
    status = 413
    code = "payload_too_large"


class InternalError(ApiError):
    """Anything unexpected: the client gets this, the server log gets the traceback."""

    status = 500
    code = "internal_error"


def all_error_codes() -> tuple[str, ...]:
    """Every code a client can see: the error counter's closed label set."""
    codes: list[str] = []
    pending: list[type[ApiError]] = [ApiError]
    while pending:
        cls = pending.pop()
        if cls.code not in codes:
            codes.append(cls.code)
        pending.extend(cls.__subclasses__())
    # Errors werkzeug raises itself (routing) and the catch-all handler.
    for code in ("not_found", "method_not_allowed", "internal_error"):
        if code not in codes:
            codes.append(code)
    return tuple(sorted(codes))


class InvalidRollout(ApiError):
    code = "invalid_rollout"


class RolloutConflict(ApiError):
    status = 409
    code = "rollout_in_progress"


class NoRollout(ApiError):
    status = 404
    code = "no_rollout"


class InvalidRetrain(ApiError):
    code = "invalid_retrain"


class RetrainConflict(ApiError):
    status = 409
    code = "retrain_in_progress"


# Why an answer was refused: the closed label set of mlops_model_failures_total{reason}.
FAILURE_REASONS = ("outputs", "shape", "label", "probabilities", "timeout", "error")


class ModelFailure(ApiError):
    """A served version could not answer (its ONNX graph raised): the server's fault, never the
    client's. The message names the version; ``reason`` (of FAILURE_REASONS) labels the failure
    counter."""

    status = 502
    code = "inference_failed"

    def __init__(self, version: str, reason: str, message: str) -> None:
        super().__init__(f"model version {version}: {message}")
        self.version = version
        self.reason = reason


class InvalidModelAnswer(ModelFailure):
    """The version answered, but not a valid answer (shape, label, probabilities): refused
    before anything is logged or returned."""

    code = "invalid_model_answer"


class InferenceTimeout(ModelFailure):
    """The version ran past the inference time budget (MLOPS_INFERENCE_TIMEOUT_MS) and was
    stopped."""

    status = 504
    code = "inference_timeout"


class StoreUnavailable(RuntimeError):
    """The database cannot take the write (disk full, read-only, unreachable, locked too long).

    Not an ApiError: the storage layer raises it, and each transport maps it to its own answer
    (HTTP 503 with a generic message; the cause goes to the server log only).
    """


# A typed schema's request mistakes (schema/rows.py's RowError codes), one class per code so the
# error counter's label set (all_error_codes) holds each. The message names the row and column.
class UnknownColumn(ApiError):
    code = "unknown_column"


class MissingColumn(ApiError):
    code = "missing_column"


class WrongType(ApiError):
    code = "wrong_type"


class NullInRequired(ApiError):
    code = "null_in_required"


class NonFinite(ApiError):
    code = "non_finite"


class StringTooLong(ApiError):
    code = "string_too_long"


class TooManyRows(ApiError):
    status = 413  # as batch_too_large for numeric models: the request is too big, not wrong
    code = "too_many_rows"


class BadBody(ApiError):
    code = "bad_body"


ROW_ERRORS: dict[str, type[ApiError]] = {
    cls.code: cls
    for cls in (
        UnknownColumn,
        MissingColumn,
        WrongType,
        NullInRequired,
        NonFinite,
        StringTooLong,
        TooManyRows,
        BadBody,
    )
}
