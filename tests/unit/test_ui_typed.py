"""The UI's typed-schema helpers without a server: which form a schema gets, CSV cells converted per
column type, chunked batches that keep every row's answer or error, and drift frames and charts."""

from __future__ import annotations

import sys
from typing import Any

import pytest

from mlops_pipeline.ui.batch import BatchError
from mlops_pipeline.ui.client import UiError
from mlops_pipeline.ui.drift_view import (
    categorical_columns,
    column_table,
    missing_frame,
    paired_bars_spec,
    share_frame,
)
from mlops_pipeline.ui.typed_batch import (
    convert,
    parse_typed_csv,
    result_frame,
    send_in_chunks,
)

SCHEMA: dict[str, Any] = {
    "columns": [
        {"name": "island", "type": "string", "nullable": False, "categories": ["Biscoe", "NA"]},
        {"name": "mass", "type": "double", "nullable": True},
        {"name": "sex", "type": "string", "nullable": True, "categories": ["female", "male"]},
        {"name": "year", "type": "integer", "nullable": False},
        {"name": "tagged", "type": "boolean", "nullable": True},
    ],
    "task": {"kind": "classification", "classes": ["a", "b"]},
}
IRIS = {"columns": [{"name": n, "type": "double", "nullable": False} for n in ("x", "y")]}
HEADER = "id,island,mass,sex,year,tagged\n"
# ui.schema_form draws with streamlit: imported by the tests that use it, not at collection (its
# loggers, once imported, make pytest's log capture slower for every later test in the process).


def test_only_iris_like_schemas_keep_the_numeric_form() -> None:
    from mlops_pipeline.ui.schema_form import needs_typed_form

    assert not needs_typed_form(None)
    assert not needs_typed_form(IRIS)
    assert needs_typed_form(SCHEMA)
    nullable = {"columns": [{"name": "x", "type": "double", "nullable": True}]}
    assert needs_typed_form(nullable)  # a "missing" choice is needed
    assert needs_typed_form({"columns": [{"name": "n", "type": "integer", "nullable": False}]})


def test_the_missing_choice_never_hides_a_category() -> None:
    from mlops_pipeline.ui.schema_form import MISSING, missing_label

    assert missing_label(["female", "male"]) == MISSING
    assert missing_label(["a", MISSING]) == f"({MISSING})"


@pytest.mark.parametrize(
    ("cell", "column", "value"),
    [
        ("3.5", SCHEMA["columns"][1], 3.5),
        ("", SCHEMA["columns"][1], None),
        ("NA", SCHEMA["columns"][2], None),
        ("NA", SCHEMA["columns"][0], "NA"),  # a category of its own there
        ("2008", SCHEMA["columns"][3], 2008),
        ("2008.0", SCHEMA["columns"][3], 2008),
        ("Yes", SCHEMA["columns"][4], True),
        ("0", SCHEMA["columns"][4], False),
        (" Dream ", SCHEMA["columns"][0], "Dream"),  # unseen: the API answers and counts it
    ],
)
def test_cells_become_typed_values(cell: str, column: dict[str, Any], value: Any) -> None:
    assert convert(cell, column) == value


@pytest.mark.parametrize(
    ("cell", "column", "message"),
    [
        ("", SCHEMA["columns"][3], "empty in a required column"),
        ("x", SCHEMA["columns"][1], "'x' is not a number"),
        ("inf", SCHEMA["columns"][1], "'inf' is not a finite number"),
        ("2008.5", SCHEMA["columns"][3], "'2008.5' is not an integer"),
        ("maybe", SCHEMA["columns"][4], "'maybe' is not true or false"),
    ],
)
def test_bad_cells_say_what_is_wrong(cell: str, column: dict[str, Any], message: str) -> None:
    with pytest.raises(ValueError, match=message):
        convert(cell, column)


def test_a_csv_is_read_by_column_name_with_bad_rows_marked() -> None:
    text = HEADER + "1,Biscoe,4000,,2008,\n2,Biscoe,x,male,2008,true\n3,,1,male,2009,false\n"
    batch = parse_typed_csv(text, SCHEMA)
    assert batch.rows[0] == {
        "island": "Biscoe", "mass": 4000.0, "sex": None, "year": 2008, "tagged": None,
    }  # fmt: skip
    assert batch.rows[1] is None
    assert batch.errors == {
        1: "column 'mass': 'x' is not a number",
        2: "column 'island': empty in a required column",
    }
    assert list(batch.frame["id"]) == ["1", "2", "3"]  # every cell kept as written


@pytest.mark.parametrize(
    ("text", "message"),
    [
        ("", "not a readable CSV"),
        ("island,mass\nBiscoe,1\n", "Missing columns: sex, year, tagged"),
        (HEADER, "no rows"),
    ],
)
def test_unusable_files_are_refused_whole(text: str, message: str) -> None:
    with pytest.raises(BatchError, match=message):
        parse_typed_csv(text, SCHEMA)


class FakeApi:
    """Answers like /predict: refuses a body naming its first row with island "bad" (400), and
    bodies over ``limit`` rows (413)."""

    def __init__(self, limit: int = 100) -> None:
        self.limit = limit
        self.bodies: list[list[dict[str, Any]]] = []

    def __call__(self, rows: list[dict[str, Any]]) -> dict[str, Any]:
        self.bodies.append(rows)
        if len(rows) > self.limit:
            raise UiError("The API refused the request (413 too_many_rows): too many", 413)
        for index, row in enumerate(rows):
            if row["island"] == "bad":
                message = f"row {index}, column 'island': 'bad' is no good"
                raise UiError(f"The API refused the request (400 wrong_type): {message}", 400)
        return {
            "class_names": [f"class-{row['year']}" for row in rows],
            "model_version": "v1",
            "probabilities": [[0.25, 0.75] for _ in rows],
        }


def _batch(islands: list[str]) -> Any:
    lines = [f"{i},{island},1,male,{2000 + i},true" for i, island in enumerate(islands)]
    return parse_typed_csv(HEADER + "\n".join(lines) + "\n", SCHEMA)


def test_a_refused_row_is_marked_and_the_rest_of_its_chunk_is_answered() -> None:
    batch = _batch(["Biscoe", "bad", "Biscoe", "", "bad", "Biscoe"])  # row 3 fails locally
    api = FakeApi()
    outcomes = send_in_chunks(batch, api, chunk_rows=3)
    assert [o.get("prediction") for o in outcomes] == [
        "class-2000", None, "class-2002", None, None, "class-2005",
    ]  # fmt: skip
    assert outcomes[1] == {"error": "column 'island': 'bad' is no good"}
    assert outcomes[3] == {"error": "column 'island': empty in a required column"}
    assert outcomes[4]["error"].startswith("column 'island'")
    # Each answered row was sent in exactly one answered body.
    answered = [row["year"] for body in api.bodies for row in body if "bad" not in str(body)]
    assert sorted(answered) == [2000, 2002, 2005]
    frame = result_frame(batch, outcomes, ["a", "b"])
    assert list(frame.columns[-5:]) == ["prediction", "model_version", "p_a", "p_b", "error"]
    assert list(frame["error"] != "") == [False, True, False, True, True, False]


def test_a_413_halves_the_chunks() -> None:
    batch = _batch(["Biscoe"] * 10)
    api = FakeApi(limit=3)
    outcomes = send_in_chunks(batch, api, chunk_rows=8)
    assert all(o["model_version"] == "v1" for o in outcomes)
    assert [len(body) for body in api.bodies] == [8, 4, 2, 2, 2, 2, 2]


def test_an_error_about_no_row_marks_the_whole_chunk() -> None:
    batch = _batch(["Biscoe"] * 3)

    def down(rows: list[dict[str, Any]]) -> dict[str, Any]:
        raise UiError("The API at http://x is unreachable (ConnectionError).")

    outcomes = send_in_chunks(batch, down, chunk_rows=2)
    assert [o["error"] for o in outcomes] == [
        "The API at http://x is unreachable (ConnectionError)."
    ] * 3


DRIFT: dict[str, Any] = {
    "island": {
        "type": "string", "test": "unseen", "p_value": 1e-9, "drift": True,
        "missing_share": 0.0, "reference_missing_share": 0.0, "unseen_share": 0.2,
        "shares": {"Atlantis": 0.2, "Biscoe": 0.8},
        "reference_shares": {"Biscoe": 0.6, "Dream": 0.4},
    },
    "mass": {
        "type": "double", "test": "ks", "p_value": 0.5, "drift": False,
        "missing_share": 0.1, "reference_missing_share": 0.01,
        "shares": None, "reference_shares": None, "unseen_share": None,
    },
}  # fmt: skip


def test_drift_columns_become_a_table_and_paired_share_bars() -> None:
    table = column_table(DRIFT)
    assert list(table["column"]) == ["island", "mass"]
    assert list(table["drift"]) == [True, False]
    assert list(table["missing"]) == [0.0, 0.1]
    assert categorical_columns(DRIFT) == ["island"]
    shares = share_frame(DRIFT["island"])
    assert shares.to_dict("records") == [
        {"category": "Biscoe", "source": "training", "share": 0.6},
        {"category": "Biscoe", "source": "window", "share": 0.8},
        {"category": "Dream", "source": "training", "share": 0.4},
        {"category": "Atlantis", "source": "window", "share": 0.2},  # unseen: no training bar
    ]
    missing = missing_frame(DRIFT)
    assert missing[missing["column"] == "mass"]["share"].tolist() == [0.01, 0.1]
    spec = paired_bars_spec("category", "island")
    assert spec["encoding"]["xOffset"]["field"] == "source"
    assert spec["encoding"]["x"]["field"] == "category"


def test_progress_is_told_after_each_request() -> None:
    batch = _batch(["Biscoe", "", "Biscoe", "Biscoe"])
    seen: list[int] = []
    send_in_chunks(batch, FakeApi(), chunk_rows=2, on_progress=seen.append)
    assert seen == [1, 3, 4]  # the locally refused row first, then each chunk's rows


def _form_page() -> None:
    """A page drawing the generated form for a schema with every kind of input."""
    import streamlit as st

    from mlops_pipeline.ui.schema_form import typed_form_values

    schema = {
        "columns": [
            {"name": "n", "type": "integer", "nullable": False},
            {"name": "x", "type": "double", "nullable": True},
            {"name": "flag", "type": "boolean", "nullable": False},
            {"name": "maybe", "type": "boolean", "nullable": True},
            {"name": "note", "type": "string", "nullable": True},
            {"name": "colour", "type": "string", "nullable": False, "categories": ["red"]},
        ]
    }
    with st.form("f"):
        row = typed_form_values(schema, {"n": {"min": 1, "max": 5, "mean": 2.6}})
        submitted = st.form_submit_button("Go")
    if submitted:
        st.session_state["row"] = row


def test_the_generated_form_has_an_input_per_kind_and_sends_missing_as_none(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    from streamlit.testing.v1 import AppTest

    # Streamlit's script runner installs the page as sys.modules["__main__"] and leaves it there:
    # a later test in this process that spawns a process would have it re-run the page.
    monkeypatch.setitem(sys.modules, "__main__", sys.modules["__main__"])
    app = AppTest.from_function(_form_page).run()
    assert not app.exception
    assert app.number_input(key="feature_n").value == 3  # the mean, rounded; step 1
    assert app.number_input(key="feature_n").step == 1
    assert app.number_input(key="feature_x").value == 0.0  # no training range known
    assert app.selectbox(key="feature_maybe").options == ["true", "false", "(missing)"]
    assert app.selectbox(key="feature_colour").options == ["red"]
    app.button[0].click().run()
    assert app.session_state["row"] == {
        "n": 3, "x": 0.0, "flag": False, "maybe": None, "note": None, "colour": "red",
    }  # fmt: skip
    app.checkbox(key="feature_flag").check()
    app.checkbox(key="missing_x").check()
    app.selectbox(key="feature_maybe").select("true")
    app.text_input(key="feature_note").input("hello")
    app.button[0].click().run()
    assert app.session_state["row"] == {
        "n": 3, "x": None, "flag": True, "maybe": True, "note": "hello", "colour": "red",
    }  # fmt: skip
