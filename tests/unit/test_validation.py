from __future__ import annotations

from typing import Any

import pytest

from mlops_pipeline.errors import (
    ApiError,
    BatchTooLarge,
    InvalidFeatureValue,
    InvalidUserId,
    MissingFeatures,
    WrongFeatureCount,
)
from mlops_pipeline.serving.validation import parse_predict_request

NAMES = ("sepal_length", "sepal_width", "petal_length", "petal_width")


def parse(payload: Any, header_user_id: str | None = None):  # type: ignore[no-untyped-def]
    return parse_predict_request(payload, NAMES, max_rows=3, header_user_id=header_user_id)


def test_single_row_as_list() -> None:
    request = parse({"features": [5.1, 3.5, 1, 0.2]})
    assert request.rows.tolist() == [[5.1, 3.5, 1.0, 0.2]]
    assert request.is_batch is False
    assert request.user_id is None


def test_single_row_by_name_is_reordered_to_training_order() -> None:
    request = parse(
        {
            "features": {
                "petal_width": 0.2,
                "petal_length": 1.4,
                "sepal_width": 3.5,
                "sepal_length": 5.1,
            }
        }
    )
    assert request.rows.tolist() == [[5.1, 3.5, 1.4, 0.2]]


def test_batch_mixes_lists_and_objects() -> None:
    request = parse({"instances": [[1, 2, 3, 4], dict(zip(NAMES, [5, 6, 7, 8], strict=True))]})
    assert request.rows.tolist() == [[1, 2, 3, 4], [5, 6, 7, 8]]
    assert request.is_batch is True


def test_user_id_from_body_wins_over_header() -> None:
    assert parse({"features": [1, 2, 3, 4], "user_id": "a"}, header_user_id="b").user_id == "a"
    assert parse({"features": [1, 2, 3, 4]}, header_user_id="b").user_id == "b"
    assert parse({"features": [1, 2, 3, 4], "user_id": 42}).user_id == "42"


@pytest.mark.parametrize(
    ("payload", "error", "message"),
    [
        ([1, 2, 3, 4], MissingFeatures, "JSON object"),
        ({"feature": [1, 2, 3, 4]}, MissingFeatures, "neither 'features'"),
        ({"instances": []}, MissingFeatures, "non-empty"),
        ({"features": [1, 2, 3]}, WrongFeatureCount, "has 3 values; expected 4"),
        ({"features": [1, 2, 3, 4, 5]}, WrongFeatureCount, "has 5 values"),
        ({"features": {"sepal_length": 1}}, WrongFeatureCount, "missing features"),
        ({"instances": [[1, 2, 3, 4], [1, 2]]}, WrongFeatureCount, r"instances\[1\] has 2"),
        ({"features": [1, 2, 3, "4"]}, InvalidFeatureValue, r"features\[3\]: '4' is not a number"),
        ({"features": [1, 2, 3, True]}, InvalidFeatureValue, "True is not a number"),
        ({"features": [1, 2, 3, None]}, InvalidFeatureValue, "None is not a number"),
        ({"features": [1, 2, 3, float("nan")]}, InvalidFeatureValue, "not a finite number"),
        ({"features": [1, 2, 3, float("inf")]}, InvalidFeatureValue, "not a finite number"),
        ({"features": [1, 2, 3, 10**400]}, InvalidFeatureValue, "integer too large"),
        ({"features": [1, 2, 3, [4]]}, InvalidFeatureValue, "not a number"),
        ({"features": "1,2,3,4"}, InvalidFeatureValue, "must be a list"),
        (
            {"features": dict(zip((*NAMES[:3], "colour"), [1, 2, 3, 4], strict=True))},
            InvalidFeatureValue,
            r"unknown feature names \['colour'\]",
        ),
        (
            {"instances": [[1, 2, 3, 4], [1, 2, 3, float("nan")]]},
            InvalidFeatureValue,
            r"instances\[1\]\[3\]",
        ),
        ({"instances": [[1, 2, 3, 4]] * 4}, BatchTooLarge, "4 rows; at most 3"),
        ({"features": [1, 2, 3, 4], "user_id": ""}, InvalidUserId, "1 to 128"),
        ({"features": [1, 2, 3, 4], "user_id": "x" * 129}, InvalidUserId, "1 to 128"),
        ({"features": [1, 2, 3, 4], "user_id": ["a"]}, InvalidUserId, "string or an integer"),
    ],
)
def test_invalid_payloads(payload: Any, error: type[ApiError], message: str) -> None:
    with pytest.raises(error, match=message):
        parse(payload)


def test_error_classes_carry_status_and_code() -> None:
    assert (WrongFeatureCount("x").status, WrongFeatureCount("x").code) == (
        400,
        "wrong_feature_count",
    )
    assert (BatchTooLarge("x").status, BatchTooLarge("x").code) == (413, "batch_too_large")
