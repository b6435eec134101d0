"""The contract between a model and its callers: typed columns, the task and its outputs.

One value per served model, stored in each version's metadata (``"schema"``) and shared by every
version served side by side. Everything that reads a row (request parsing, the prediction log,
drift, V2 metadata, the UI form, retraining) asks this value what a column is, instead of
assuming a float vector.

Column types are the four MLflow and the V2 protocol agree on for tabular data:

=========== ============== ============ ===============================
type        V2 datatype    ONNX input   JSON value in a request
=========== ============== ============ ===============================
``double``  ``FP64``       ``double``   number
``integer`` ``INT64``      ``int64``    integer (no fraction)
``boolean`` ``BOOL``       ``bool``     ``true`` / ``false``
``string``  ``BYTES``      ``string``   string (bounded length)
=========== ============== ============ ===============================

A nullable column accepts ``null`` (missing; the model's imputer decides); a required one
refuses it. A string column lists the categories seen in training: a value outside them is
answered (the model decides, e.g. ``OneHotEncoder(handle_unknown="ignore")``) and counted.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from functools import cached_property
from typing import Literal, cast

ColumnType = Literal["double", "integer", "boolean", "string"]
COLUMN_TYPES: tuple[ColumnType, ...] = ("double", "integer", "boolean", "string")
V2_DATATYPES: dict[ColumnType, str] = {
    "double": "FP64",
    "integer": "INT64",
    "boolean": "BOOL",
    "string": "BYTES",
}
TaskKind = Literal["classification", "regression"]
MAX_CATEGORIES = 1_000  # per string column: beyond this it is free text, not a category
MAX_STRING_LENGTH = 256  # characters of one string value in a request


class SchemaError(ValueError):
    """A schema that cannot be: the message names the column or field."""


@dataclass(frozen=True)
class Column:
    name: str
    type: ColumnType
    nullable: bool = False
    categories: tuple[str, ...] = ()  # string columns: the values seen in training, sorted

    def __post_init__(self) -> None:
        if not self.name or len(self.name) > 128 or not self.name.isprintable():
            raise SchemaError(f"column name {self.name[:40]!r}: 1-128 printable characters")
        if self.type not in COLUMN_TYPES:
            raise SchemaError(f"column {self.name!r}: type must be one of {list(COLUMN_TYPES)}")
        if self.categories and self.type != "string":
            raise SchemaError(f"column {self.name!r}: only string columns have categories")
        if len(self.categories) > MAX_CATEGORIES:
            raise SchemaError(f"column {self.name!r}: more than {MAX_CATEGORIES} categories")

    @property
    def v2_datatype(self) -> str:
        return V2_DATATYPES[self.type]

    @cached_property
    def category_set(self) -> frozenset[str]:
        """The categories as a set, built once per column: every request counts unseen values."""
        return frozenset(self.categories)

    def to_json(self) -> dict[str, object]:
        body: dict[str, object] = {"name": self.name, "type": self.type, "nullable": self.nullable}
        if self.type == "string":
            body["categories"] = list(self.categories)
        return body

    @classmethod
    def from_json(cls, body: object) -> Column:
        if not isinstance(body, dict):
            raise SchemaError(f"a column must be an object, not {type(body).__name__}")
        unknown = set(body) - {"name", "type", "nullable", "categories"}
        if unknown:
            raise SchemaError(f"column {body.get('name')!r}: unknown fields {sorted(unknown)}")
        name, kind = body.get("name"), body.get("type")
        if not isinstance(name, str) or kind not in COLUMN_TYPES:
            raise SchemaError(f"column {name!r}: needs a name and a type of {list(COLUMN_TYPES)}")
        nullable = body.get("nullable", False)
        categories = body.get("categories", [])
        if not isinstance(nullable, bool):
            raise SchemaError(f"column {name!r}: nullable must be true or false")
        if not isinstance(categories, list) or not all(isinstance(c, str) for c in categories):
            raise SchemaError(f"column {name!r}: categories must be a list of strings")
        return cls(name, cast(ColumnType, kind), nullable, tuple(sorted(set(categories))))


@dataclass(frozen=True)
class Task:
    """What the model answers: a class (of ``classes``) or, later, a number (regression)."""

    kind: TaskKind = "classification"
    classes: tuple[str, ...] = ()
    target: str = "target"  # the training column the model predicts

    def __post_init__(self) -> None:
        if self.kind not in ("classification", "regression"):
            raise SchemaError(f"task kind {self.kind!r}: classification or regression")
        if self.kind == "classification" and len(self.classes) < 2:
            raise SchemaError("a classification task needs at least two class names")
        if self.kind == "regression" and self.classes:
            raise SchemaError("a regression task has no class names")

    def to_json(self) -> dict[str, object]:
        return {"kind": self.kind, "target": self.target, "classes": list(self.classes)}


@dataclass(frozen=True)
class FeatureSchema:
    columns: tuple[Column, ...]
    task: Task = field(default_factory=lambda: Task(classes=("0", "1")))

    def __post_init__(self) -> None:
        if not self.columns:
            raise SchemaError("a schema needs at least one column")
        names = [column.name for column in self.columns]
        duplicates = sorted({name for name in names if names.count(name) > 1})
        if duplicates:
            raise SchemaError(f"duplicate column names: {duplicates}")
        if self.task.target in names:
            raise SchemaError(f"the target {self.task.target!r} is also an input column")

    @property
    def names(self) -> list[str]:
        return [column.name for column in self.columns]

    @property
    def all_numeric(self) -> bool:
        """Every column a required number: a positional row (today's Iris body) is enough."""
        return all(c.type in ("double", "integer") and not c.nullable for c in self.columns)

    @cached_property
    def nullable_integral(self) -> frozenset[str]:
        """The nullable integer and boolean columns: an int64 or bool array has no value for
        "missing", so a model is fed these as double with NaN (serving/feed.py). Computed once
        per schema: every request's feed asks."""
        return frozenset(
            c.name for c in self.columns if c.nullable and c.type in ("integer", "boolean")
        )

    def column(self, name: str) -> Column | None:
        return next((column for column in self.columns if column.name == name), None)

    def to_json(self) -> dict[str, object]:
        return {"columns": [c.to_json() for c in self.columns], "task": self.task.to_json()}

    @classmethod
    def from_json(cls, body: object) -> FeatureSchema:
        if not isinstance(body, dict) or not isinstance(body.get("columns"), list):
            raise SchemaError("a schema is an object with a list of columns")
        task = body.get("task", {})
        if not isinstance(task, dict):
            raise SchemaError("task must be an object")
        classes = task.get("classes", [])
        if not isinstance(classes, list) or not all(isinstance(c, str) for c in classes):
            raise SchemaError("task classes must be a list of strings")
        return cls(
            tuple(Column.from_json(column) for column in body["columns"]),
            Task(
                cast(TaskKind, task.get("kind", "classification")),
                tuple(classes),
                str(task.get("target", "target")),
            ),
        )
