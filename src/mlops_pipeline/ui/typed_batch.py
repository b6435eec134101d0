"""CSV batches for a typed schema: cells converted per column type, sent in chunks, and every row's
answer or error kept, so one bad row does not hide the others' answers.

Rows the UI can already tell are wrong (a word in a number column, an empty required cell) are not
sent. The rest go in chunks of ``chunk_rows``; the API refuses a whole body with a 400 naming its
first bad row ("row 3, column 'island': ..."), so that row is marked with the message and the rest
of its chunk is sent again. A refused body predicts nothing, so every row is predicted at most
once. A 413 (too many rows) halves the chunk size.
"""

from __future__ import annotations

import io
import math
import re
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any

import pandas as pd

from mlops_pipeline.ui.batch import BatchError
from mlops_pipeline.ui.client import UiError

# Cells read as missing (unless the column has that category): empty, and pandas' usual spellings.
MISSING_CELLS = frozenset({"", "NA", "N/A", "NaN", "nan", "null", "NULL", "None"})
TRUE, FALSE = frozenset({"true", "1", "yes"}), frozenset({"false", "0", "no"})
ROW_PREFIX = re.compile(r"^row (\d+)(?:, |: )?")


@dataclass
class TypedBatch:
    frame: pd.DataFrame  # the file as read, every cell a string
    rows: list[dict[str, Any] | None]  # None where the row could not be converted
    errors: dict[int, str] = field(default_factory=dict)  # 0-based row -> message


def convert(cell: str, column: dict[str, Any]) -> Any:
    """One cell as the column's type; ValueError says what is wrong."""
    text = cell.strip()
    kind = column["type"]
    categories = column.get("categories") or []
    if text in MISSING_CELLS and not (kind == "string" and text in categories and text):
        if column.get("nullable", False):
            return None
        raise ValueError("empty in a required column")
    if kind in ("double", "integer"):
        try:
            number = float(text)
        except ValueError:
            raise ValueError(f"{cell!r} is not a number") from None
        if not math.isfinite(number):
            raise ValueError(f"{cell!r} is not a finite number")
        if kind == "double":
            return number
        if not number.is_integer():
            raise ValueError(f"{cell!r} is not an integer")
        return int(number)
    if kind == "boolean":
        if text.lower() in TRUE:
            return True
        if text.lower() in FALSE:
            return False
        raise ValueError(f"{cell!r} is not true or false")
    return text


def parse_typed_csv(text: str, schema: dict[str, Any], max_rows: int = 10_000) -> TypedBatch:
    """The schema's columns of a CSV by name (extra columns kept aside), each row converted."""
    try:
        frame = pd.read_csv(io.StringIO(text), dtype=str, keep_default_na=False)
    except (pd.errors.ParserError, pd.errors.EmptyDataError, UnicodeDecodeError) as exc:
        raise BatchError(f"This is not a readable CSV file: {exc}") from None
    frame.columns = [str(column).strip() for column in frame.columns]
    names = [column["name"] for column in schema["columns"]]
    missing = [name for name in names if name not in frame.columns]
    if missing:
        raise BatchError(
            f"Missing columns: {', '.join(missing)}. The file needs a header with"
            f" {', '.join(names)}; found {', '.join(frame.columns) or 'no columns'}."
        )
    if frame.empty:
        raise BatchError("The file has a header but no rows.")
    if len(frame) > max_rows:
        raise BatchError(f"The file has {len(frame)} rows; at most {max_rows} fit one batch.")
    batch = TypedBatch(frame, [])
    for index, cells in enumerate(frame[names].itertuples(index=False)):
        row: dict[str, Any] = {}
        for column, cell in zip(schema["columns"], cells, strict=True):
            try:
                row[column["name"]] = convert(str(cell), column)
            except ValueError as exc:
                batch.errors[index] = f"column '{column['name']}': {exc}"
                break
        batch.rows.append(None if index in batch.errors else row)
    return batch


Send = Callable[[list[dict[str, Any]]], dict[str, Any]]


def send_in_chunks(
    batch: TypedBatch,
    send: Send,
    chunk_rows: int = 1000,
    on_progress: Callable[[int], object] | None = None,
) -> list[dict[str, Any]]:
    """Each row's outcome in file order: ``{"prediction", "model_version", "probabilities"}`` for
    an answered row, ``{"error": message}`` for a refused one. ``on_progress`` is told how many
    rows have an outcome after each request."""
    outcomes: list[dict[str, Any]] = [
        {"error": batch.errors[i]} if row is None else {} for i, row in enumerate(batch.rows)
    ]
    pending = [i for i, row in enumerate(batch.rows) if row is not None]
    while pending:
        if on_progress is not None:
            on_progress(len(outcomes) - len(pending))
        chunk = pending[:chunk_rows]
        try:
            answer = send([batch.rows[i] or {} for i in chunk])
        except UiError as exc:
            if exc.status == 413 and chunk_rows > 1:
                chunk_rows = max(1, chunk_rows // 2)
                continue
            named = ROW_PREFIX.match(_message(exc))
            if exc.status == 400 and named and int(named.group(1)) < len(chunk):
                bad = chunk[int(named.group(1))]
                outcomes[bad] = {"error": _message(exc)[named.end() :] or str(exc)}
                pending.remove(bad)
                continue
            for i in chunk:  # not about one row (the API is down, a 5xx): every row of the chunk
                outcomes[i] = {"error": str(exc)}
            pending = pending[len(chunk) :]
            continue
        for position, i in enumerate(chunk):
            outcomes[i] = {
                "prediction": answer["class_names"][position],
                "model_version": answer["model_version"],
                "probabilities": answer["probabilities"][position],
            }
        pending = pending[len(chunk) :]
    if on_progress is not None:
        on_progress(len(outcomes))
    return outcomes


def _message(exc: UiError) -> str:
    """The API's own message: what follows "The API refused the request (400 code): "."""
    text = str(exc)
    return text.split("): ", 1)[1] if "): " in text else text


def result_frame(
    batch: TypedBatch, outcomes: list[dict[str, Any]], class_names: list[str]
) -> pd.DataFrame:
    """The file's columns, then prediction, model_version, a probability per class and error."""
    probabilities = {
        f"p_{name}": [o["probabilities"][k] if "probabilities" in o else None for o in outcomes]
        for k, name in enumerate(class_names)
    }
    return batch.frame.assign(
        prediction=[o.get("prediction") for o in outcomes],
        model_version=[o.get("model_version") for o in outcomes],
        **probabilities,
        error=[o.get("error", "") for o in outcomes],
    )
