"""schema/one_row.py: the one-row shortcut gives build_batch's batch, or declines.

And serving/feed.batch_feed, which feeds a checked batch without converting it again, gives
onnx_feed's arrays. Both are checked on rows hypothesis draws from every value a JSON body can
hold (nulls, booleans, integral floats, huge integers, NaN, long strings, unseen categories).
"""

from __future__ import annotations

import json
import math
from typing import Any

import numpy as np
from hypothesis import given, settings
from hypothesis import strategies as st
from numpy.typing import NDArray

from mlops_pipeline.schema.bodies import batch_from_body
from mlops_pipeline.schema.model import MAX_STRING_LENGTH, FeatureSchema
from mlops_pipeline.schema.one_row import quick_row
from mlops_pipeline.schema.rows import RowError, TypedBatch, build_batch
from mlops_pipeline.serving.feed import batch_feed, onnx_feed
from mlops_pipeline.storage.typed_rows import encode
from tests.support.schemas import EVERY_TYPE

SCHEMA = EVERY_TYPE
VALID = {
    "island": "Dream", "sex": None, "bill": 39.5, "mass": 3750, "year": 2007, "rings": None,
    "tagged": True, "banded": False,
}  # fmt: skip

ANY_VALUE = st.one_of(
    st.none(),
    st.booleans(),
    st.integers(min_value=-(2**70), max_value=2**70),
    st.sampled_from([2.0, -0.0, 1e308, math.nan, math.inf, -math.inf, 0.5]),
    st.floats(allow_nan=False, allow_infinity=False),
    st.sampled_from(["Dream", "Biscoe", "male", "female", "", "Atlantis", "x" * 300]),
    st.text(max_size=5),
    st.just([1.0]),
)


def same(left: TypedBatch, right: TypedBatch) -> None:
    assert (left.n_rows, left.form, dict(left.unseen)) == (right.n_rows, right.form, right.unseen)
    assert list(left.columns) == list(right.columns) == SCHEMA.names
    for name, array in left.columns.items():
        equal_arrays(array, right.columns[name])
    assert list(left.missing) == list(right.missing)
    for name, mask in left.missing.items():
        equal_arrays(mask, right.missing[name])


def equal_arrays(left: NDArray[Any], right: NDArray[Any]) -> None:
    assert (left.dtype, left.shape) == (right.dtype, right.shape)
    if left.dtype.kind == "f":
        np.testing.assert_array_equal(left, right)  # NaN where NaN
        assert np.signbit(left).tolist() == np.signbit(right).tolist()
    else:
        assert left.tolist() == right.tolist()


def through_build_batch(row: dict[str, Any]) -> TypedBatch | RowError:
    try:
        return build_batch(SCHEMA, {name: [row.get(name)] for name in SCHEMA.names}, 1, "features")
    except RowError as error:
        return error


def test_a_complete_valid_row_takes_the_shortcut_to_the_same_batch() -> None:
    quick = quick_row(SCHEMA, dict(VALID))
    assert quick is not None
    expected = through_build_batch(VALID)
    assert isinstance(expected, TypedBatch)
    same(quick, expected)
    assert quick.missing["sex"].tolist() == [True]
    assert quick.columns["sex"].tolist() == [""]
    assert math.isnan(quick_row(SCHEMA, {**VALID, "bill": None}).columns["bill"][0])  # type: ignore[union-attr]


def test_the_row_kept_for_the_log_holds_converted_values_and_null_for_missing() -> None:
    quick = quick_row(SCHEMA, {**VALID, "mass": 3750})
    assert quick is not None
    assert quick.log_rows == [{**VALID, "mass": 3750.0}]
    assert type(quick.log_rows[0]["mass"]) is float  # as the float64 column gives it back
    assert json.loads(encode(quick)) == [{**VALID, "mass": 3750.0}]


def test_without_nullable_integers_the_model_is_fed_the_cells_themselves() -> None:
    # A nullable integer or boolean column is widened to double; every other column's cell is
    # already its [1, 1] input, so the feed holds the very arrays the parse made.
    assert EVERY_TYPE.nullable_integral == {"rings", "banded"}
    schema = FeatureSchema(
        tuple(c for c in SCHEMA.columns if c.name not in SCHEMA.nullable_integral), SCHEMA.task
    )
    row = {k: v for k, v in VALID.items() if k in schema.names}
    quick = quick_row(schema, row)
    assert quick is not None
    assert quick.cells is not None
    fed = batch_feed(schema, quick)
    assert list(fed) == schema.names
    assert all(fed[name] is quick.cells[name] for name in schema.names)
    assert all(array.shape == (1, 1) for array in fed.values())
    expected = onnx_feed(schema, quick.columns, quick.missing)
    for name, array in fed.items():
        equal_arrays(array, expected[name])
    # The columns read as one-element views of the cells.
    assert quick.columns["mass"].shape == (1,)
    assert np.shares_memory(quick.columns["mass"], quick.cells["mass"])


def test_unseen_categories_are_counted_as_build_batch_counts_them() -> None:
    quick = quick_row(SCHEMA, {**VALID, "island": "Atlantis", "sex": "unknown"})
    assert quick is not None
    assert quick.unseen == {"island": 1, "sex": 1}


def test_the_shared_masks_cannot_be_written_into() -> None:
    quick = quick_row(SCHEMA, dict(VALID))
    assert quick is not None
    assert not quick.missing["sex"].flags.writeable


def test_what_the_shortcut_declines_goes_through_the_full_check() -> None:
    declined = [
        {**VALID, "year": 2007.0},  # converted by build_batch (2.0 -> 2), not here
        {**VALID, "mass": math.nan},
        {**VALID, "tagged": 1},
        {**VALID, "island": None},
        {k: v for k, v in VALID.items() if k != "sex"},  # left out: missing, decided there
        {**{k: v for k, v in VALID.items() if k != "sex"}, "other": 1},
        {**VALID, "island": "x" * (MAX_STRING_LENGTH + 1)},
    ]
    for row in declined:
        assert quick_row(SCHEMA, row) is None, row
    batch = batch_from_body({"features": declined[0]}, SCHEMA, 10)
    assert batch.columns["year"].tolist() == [2007]
    assert "row 0, column 'mass'" in str(through_build_batch(declined[1]))


@settings(max_examples=400, deadline=None)
@given(st.fixed_dictionaries({name: ANY_VALUE for name in SCHEMA.names}))
def test_the_shortcut_never_disagrees_with_build_batch(row: dict[str, Any]) -> None:
    quick = quick_row(SCHEMA, row)
    expected = through_build_batch(row)
    if quick is not None:
        assert isinstance(expected, TypedBatch), expected  # never accepts what is refused
        same(quick, expected)
        # The rows it keeps for the log are what the log would make of the columns.
        assert quick.log_rows is not None
        assert encode(quick) == encode(expected)
        assert json.loads(encode(quick)) == json.loads(encode(expected))


VALID_VALUES = {
    "string": st.sampled_from(["Dream", "female", "Atlantis", ""]),
    "double": st.floats(allow_nan=False, allow_infinity=False),
    "integer": st.integers(min_value=-(2**63), max_value=2**63 - 1),
    "boolean": st.booleans(),
}
VALID_ROWS = st.lists(
    st.fixed_dictionaries(
        {
            column.name: st.none() | VALID_VALUES[column.type]
            if column.nullable
            else VALID_VALUES[column.type]
            for column in SCHEMA.columns
        }
    ),
    min_size=1,
    max_size=5,
)


@settings(max_examples=300, deadline=None)
@given(VALID_ROWS)
def test_batch_feed_equals_onnx_feed_of_the_same_rows(rows: list[dict[str, Any]]) -> None:
    batch = batch_from_body({"instances": rows}, SCHEMA, 10)
    expected = onnx_feed(SCHEMA, batch.columns, batch.missing)
    fed = batch_feed(SCHEMA, batch)
    assert list(fed) == list(expected)
    for name, array in fed.items():
        equal_arrays(array, expected[name])
    assert fed["rings"].dtype == np.float64
    assert fed["banded"].dtype == np.float64
    if len(rows) == 1:  # the one-row shortcut's batch feeds the same arrays
        quick = batch_from_body({"features": rows[0]}, SCHEMA, 10)
        for name, array in batch_feed(SCHEMA, quick).items():
            equal_arrays(array, expected[name])
