"""The one schema a server's versions share, decided when they load, and a row to probe with.

Every version served side by side answers the same requests and is compared on the same rows,
so a bundle whose versions' schemas differ is refused at start, with each difference spelled
out (schema/compare.py), as registration refuses a candidate that differs from the served one.
A bundle trained before schemas (Iris's metadata carries none) has no schema: float vectors.
"""

from __future__ import annotations

from collections.abc import Mapping

from mlops_pipeline.schema.compare import schema_differences
from mlops_pipeline.schema.model import FeatureSchema, SchemaError
from mlops_pipeline.schema.rows import TypedBatch, build_batch


class SchemaMismatch(ValueError):
    """Versions that cannot serve side by side; the message lists the differences."""


def version_schema(version: str, metadata: Mapping[str, object]) -> FeatureSchema | None:
    """The schema a version's metadata.json records, None when it records none."""
    recorded = metadata.get("schema")
    if recorded is None:
        return None
    try:
        return FeatureSchema.from_json(recorded)
    except SchemaError as exc:
        raise SchemaMismatch(f"{version}: metadata.json's schema is invalid: {exc}") from None


def served_schema(metadata: Mapping[str, Mapping[str, object]]) -> FeatureSchema | None:
    """The schema all ``metadata`` (version -> metadata.json) share; SchemaMismatch otherwise."""
    schemas = {version: version_schema(version, meta) for version, meta in metadata.items()}
    carrying = {version: schema for version, schema in schemas.items() if schema is not None}
    if not carrying:
        return None
    without = sorted(set(schemas) - set(carrying))
    if without:
        raise SchemaMismatch(
            f"versions {without} record no schema, but {sorted(carrying)} do: they cannot"
            " serve side by side"
        )
    first, schema = next(iter(carrying.items()))
    for version, other in carrying.items():
        problem = mismatch(first, schema, version, other)
        if problem is not None:
            raise SchemaMismatch(problem)
    return schema


def mismatch(
    served_name: str, served: FeatureSchema, version: str, candidate: FeatureSchema | None
) -> str | None:
    """Why ``version`` cannot serve beside ``served_name``, or None."""
    if candidate is None:
        return f"{version} records no schema; {served_name} serves a typed one"
    differences = schema_differences(served, candidate)
    if not differences:
        return None
    return (
        f"{version}'s schema differs from {served_name}'s (here = {served_name}):"
        f" {'; '.join(differences)}"
    )


def probe_batch(schema: FeatureSchema) -> TypedBatch:
    """One plausible row (the first category, 0, false; nullable columns missing): what a
    replica asks a version it loads to answer before serving it."""
    values: dict[str, list[object] | None] = {}
    for column in schema.columns:
        if column.nullable:
            values[column.name] = None
        elif column.type == "string":
            values[column.name] = [column.categories[0] if column.categories else "probe"]
        else:
            values[column.name] = [{"double": 0.0, "integer": 0, "boolean": False}[column.type]]
    return build_batch(schema, values, 1, "instances")
