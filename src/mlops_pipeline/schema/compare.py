"""Is a candidate version's schema the served one? Every difference, spelled out.

Versions served side by side answer the same requests and are compared on the same rows, so
registration refuses a candidate whose :func:`schema_differences` is not empty: a column
missing or extra, in another place, of another type or nullability, another task or other
classes (the order of the class names is the order of the probabilities, so it counts too).

Categories are not a difference: a model retrained on more data may have seen more (or fewer)
values of a string column, and an unseen value is answered anyway. :func:`category_notes`
lists them for the registration's log, with a different target name (the training column the
model predicts: a label in lineage, not part of what callers send or receive).
"""

from __future__ import annotations

from mlops_pipeline.schema.model import Column, FeatureSchema

HERE, THERE = "here", "in the candidate"


def schema_differences(served: FeatureSchema, candidate: FeatureSchema) -> list[str]:
    """Each way ``candidate`` differs from ``served``; empty when they can serve side by side."""
    differences: list[str] = []
    names, other_names = served.names, candidate.names
    differences += [
        f"column {name!r} is missing {THERE}" for name in names if name not in other_names
    ]
    differences += [f"column {name!r} is only {THERE}" for name in other_names if name not in names]
    shared = [name for name in names if name in other_names]
    other_shared = [name for name in other_names if name in names]
    if shared != other_shared:
        differences.append(f"column order: {_few(shared)} {HERE}, {_few(other_shared)} {THERE}")
    theirs = {column.name: column for column in candidate.columns}
    for column in served.columns:
        if column.name in theirs:
            differences += column_differences(column, theirs[column.name])
    task, other_task = served.task, candidate.task
    if task.kind != other_task.kind:
        differences.append(f"task: {task.kind} {HERE}, {other_task.kind} {THERE}")
    elif task.classes != other_task.classes:
        differences.append(_class_difference(task.classes, other_task.classes))
    return differences


def column_differences(column: Column, other: Column) -> list[str]:
    differences = []
    if column.type != other.type:
        differences.append(
            f"column {column.name!r}: type {column.type} {HERE}, {other.type} {THERE}"
        )
    if column.nullable != other.nullable:
        differences.append(
            f"column {column.name!r}: {_nullability(column)} {HERE}, {_nullability(other)} {THERE}"
        )
    return differences


def category_notes(served: FeatureSchema, candidate: FeatureSchema) -> list[str]:
    """Differences that do not refuse a candidate: categories of shared string columns, target."""
    notes = []
    for column in served.columns:
        other = candidate.column(column.name)
        if other is None or column.type != "string" or other.type != "string":
            continue
        only_there = sorted(set(other.categories) - set(column.categories))
        only_here = sorted(set(column.categories) - set(other.categories))
        if only_there:
            notes.append(f"column {column.name!r}: categories only {THERE}: {_few(only_there)}")
        if only_here:
            notes.append(f"column {column.name!r}: categories only {HERE}: {_few(only_here)}")
    if served.task.target != candidate.task.target:
        notes.append(f"target: {served.task.target!r} {HERE}, {candidate.task.target!r} {THERE}")
    return notes


def _class_difference(classes: tuple[str, ...], other: tuple[str, ...]) -> str:
    if sorted(classes) == sorted(other):
        return f"class order: {_few(list(classes))} {HERE}, {_few(list(other))} {THERE}"
    parts = []
    missing = [name for name in classes if name not in other]
    extra = [name for name in other if name not in classes]
    if missing:
        parts.append(f"{_few(missing)} missing {THERE}")
    if extra:
        parts.append(f"{_few(extra)} only {THERE}")
    return (
        f"classes: {_few(list(classes))} {HERE}, {_few(list(other))} {THERE} ({'; '.join(parts)})"
    )


def _nullability(column: Column) -> str:
    return "nullable" if column.nullable else "required"


def _few(values: list[str], limit: int = 10) -> str:
    """A list for a message, cut after ``limit``: a column may have 1,000 categories."""
    if len(values) <= limit:
        return str(values)
    return f"{values[:limit]} and {len(values) - limit} more"
