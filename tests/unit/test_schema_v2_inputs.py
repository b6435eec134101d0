"""schema/v2_inputs.py: V2 named inputs per column (metadata, JSON data, BYTES binary layout)."""

from __future__ import annotations

import numpy as np
import pytest
import tritonclient.http as triton_http

from mlops_pipeline.schema.model import Column, FeatureSchema, Task
from mlops_pipeline.schema.rows import RowError
from mlops_pipeline.schema.v2_inputs import (
    batch_from_v2_inputs,
    decode_bytes_tensor,
    decode_string_tensor,
    encode_bytes_tensor,
    model_metadata_inputs,
)

SCHEMA = FeatureSchema(
    (
        Column("island", "string", False, ("Biscoe", "Dream", "Torgersen")),
        Column("bill_length_mm", "double", True),
        Column("sex", "string", True, ("female", "male")),
        Column("year", "integer"),
        Column("tagged", "boolean", True),
    ),
    Task(classes=("Adelie", "Chinstrap", "Gentoo"), target="species"),
)


def tensor(name: str, datatype: str, data: list[object], shape: list[int] | None = None) -> dict:
    return {"name": name, "datatype": datatype, "shape": shape or [len(data), 1], "data": data}


def test_model_metadata_has_one_named_input_per_column() -> None:
    assert model_metadata_inputs(SCHEMA) == [
        {"name": "island", "datatype": "BYTES", "shape": [-1, 1]},
        {"name": "bill_length_mm", "datatype": "FP64", "shape": [-1, 1]},
        {"name": "sex", "datatype": "BYTES", "shape": [-1, 1]},
        {"name": "year", "datatype": "INT64", "shape": [-1, 1]},
        {"name": "tagged", "datatype": "BOOL", "shape": [-1, 1]},
    ]


def test_named_inputs_become_a_typed_batch() -> None:
    inputs = [
        tensor("year", "INT64", [2007, 2008, 2009], [3]),  # any order, flat [N] too
        tensor("island", "BYTES", [["Dream"], ["Mars"], ["Biscoe"]]),  # nested as [N, 1]
        tensor("bill_length_mm", "FP32", [39.5, None, 41]),  # narrower float: accepted
        tensor("sex", "BYTES", ["male", None, "female"]),
    ]  # "tagged" left out: nullable, all missing
    batch = batch_from_v2_inputs(inputs, SCHEMA, max_rows=10)
    assert batch.form == "v2"
    assert batch.n_rows == 3
    assert list(batch.columns) == SCHEMA.names
    assert batch.columns["year"].tolist() == [2007, 2008, 2009]
    assert batch.columns["year"].dtype == np.int64
    assert batch.columns["island"].tolist() == ["Dream", "Mars", "Biscoe"]
    assert batch.missing["bill_length_mm"].tolist() == [False, True, False]
    assert batch.missing["sex"].tolist() == [False, True, False]
    assert batch.missing["tagged"].tolist() == [True, True, True]
    assert batch.unseen == {"island": 1, "sex": 0}


def test_a_tritonclient_request_with_json_data() -> None:
    def triton_input(name: str, datatype: str, array: np.ndarray) -> dict:
        tensor = triton_http.InferInput(name, list(array.shape), datatype)
        tensor.set_data_from_numpy(array, binary_data=False)
        return tensor._get_tensor()  # the JSON object tritonclient puts in the request body

    inputs = [
        triton_input("island", "BYTES", np.array([["Torgersen"], ["Dream"]], dtype=object)),
        triton_input("bill_length_mm", "FP64", np.array([[39.1], [40.3]])),
        triton_input("sex", "BYTES", np.array([["female"], ["male"]], dtype=object)),
        triton_input("year", "INT64", np.array([[2007], [2009]])),
        triton_input("tagged", "BOOL", np.array([[True], [False]])),
    ]
    batch = batch_from_v2_inputs(inputs, SCHEMA, max_rows=10)
    assert batch.columns["bill_length_mm"].tolist() == [39.1, 40.3]
    assert batch.columns["tagged"].tolist() == [True, False]
    assert batch.columns["sex"].tolist() == ["female", "male"]


def test_tritonclients_default_binary_bytes_decode() -> None:
    tensor = triton_http.InferInput("sex", [3, 1], "BYTES")
    tensor.set_data_from_numpy(np.array([["male"], ["femme"], ["é"]], dtype=object))  # binary
    raw = tensor._get_binary_data()
    # By hand: 4-byte little-endian lengths 4, 5, 2 ("é" is two bytes in UTF-8).
    assert raw == b"\x04\x00\x00\x00male\x05\x00\x00\x00femme\x02\x00\x00\x00\xc3\xa9"
    assert decode_string_tensor(raw, 3, "sex") == ["male", "femme", "é"]
    assert encode_bytes_tensor(["male", "femme", "é"]) == raw


def test_bytes_layout_round_trip_and_empty_elements() -> None:
    values = [b"", b"\x00\xff", b"Torgersen"]
    raw = encode_bytes_tensor(values)
    assert raw == b"\x00\x00\x00\x00" + b"\x02\x00\x00\x00\x00\xff" + b"\x09\x00\x00\x00Torgersen"
    assert decode_bytes_tensor(raw, 3) == values
    assert decode_bytes_tensor(b"", 0) == []


@pytest.mark.parametrize(
    ("raw", "count", "message"),
    [
        (b"\x04\x00\x00\x00male\x02\x00", 2, "row 1, input 'sex': 2 bytes left where a 4-byte"),
        (b"\x09\x00\x00\x00male", 1, "row 0, input 'sex': an element of 9 bytes runs past the end"),
        (b"\x01\x00\x00\x00ab", 1, "input 'sex': 1 byte after the 1 element the shape gives"),
        (b"\x01\x00\x00\x00a", 2, "row 1, input 'sex': 0 bytes left where"),
    ],
)
def test_bytes_layout_mistakes(raw: bytes, count: int, message: str) -> None:
    with pytest.raises(RowError, match=message):
        decode_bytes_tensor(raw, count, "sex")


def test_text_must_be_utf8() -> None:
    raw = encode_bytes_tensor([b"male", b"\xff\xfe"])
    with pytest.raises(RowError, match="row 1, input 'sex': not UTF-8 text"):
        decode_string_tensor(raw, 2, "sex")


REQUIRED = [tensor("island", "BYTES", ["Dream", "Biscoe"]), tensor("year", "INT64", [2007, 2008])]


@pytest.mark.parametrize(
    ("inputs", "code", "message"),
    [
        (
            [REQUIRED[0], tensor("year", "INT64", [2007, 2008.5])],
            "wrong_type",
            "row 1, input 'year': 2008.5 is not an integer",
        ),
        (
            [REQUIRED[0], tensor("year", "BYTES", ["2007", "2008"])],
            "wrong_type",
            "input 'year': datatype BYTES; this input takes INT64",
        ),
        (
            [tensor("island", "BYTES", ["Dream", None]), REQUIRED[1]],
            "null_in_required",
            "row 1, input 'island': null in a required column",
        ),
        (
            [*REQUIRED, tensor("tagged", "BOOL", [1, 0])],
            "wrong_type",
            "row 0, input 'tagged': expected true or false, got 1",
        ),
        ([REQUIRED[0]], "missing_column", r"input 'year': missing \(a required column\)"),
        (
            [*REQUIRED, tensor("wing", "FP64", [1.0, 2.0])],
            "unknown_column",
            "input 'wing': no such input",
        ),
        ([*REQUIRED, REQUIRED[0]], "bad_body", "input 'island': appears twice"),
        (
            [REQUIRED[0], tensor("year", "INT64", [2007, 2008, 2009])],
            "bad_body",
            "input 'year': 3 rows; the inputs before it have 2",
        ),
        (
            [REQUIRED[0], tensor("year", "INT64", [2007, 2008], [2, 2])],
            "bad_body",
            r"input 'year': shape must be \[N\] or \[N, 1\], got \[2, 2\]",
        ),
        (
            [REQUIRED[0], tensor("year", "INT64", [2007], [2])],
            "bad_body",
            r"input 'year': 1 values for shape \[2\]",
        ),
        ([{"datatype": "FP64"}], "bad_body", "input 0 must be an object with a name"),
        ([], "bad_body", "'inputs' must be a non-empty list"),
        (
            [tensor("island", "BYTES", ["x"] * 11), tensor("year", "INT64", [1] * 11)],
            "too_many_rows",
            "11 rows; at most 10",
        ),
    ],
)
def test_mistakes_name_the_input_and_row(inputs: list[dict], code: str, message: str) -> None:
    with pytest.raises(RowError, match=message) as caught:
        batch_from_v2_inputs(inputs, SCHEMA, max_rows=10)
    assert caught.value.code == code
