"""The model-version catalogue (what `mlops train` builds), the rule for a version's name and
the rule every traffic split passes.

Below config.py: Settings validates its weights and the CLI reads the catalogue with these.
"""

from __future__ import annotations

import math
import re
import tomllib
from collections.abc import Collection, Mapping
from importlib import resources
from pathlib import Path
from typing import Any

from pydantic import BaseModel, Field, field_validator, model_validator

# \Z, not $: "$" also matches before a final newline, and "v10\n" would pass.
VERSION_NAME = re.compile(r"\A[A-Za-z0-9][A-Za-z0-9_.-]{0,31}\Z")


def version_name_problem(value: object, what: str = "a version name") -> str | None:
    """Why ``value`` cannot name a model version (a folder, a metric label, a log field), or
    None: the one rule for every place a version name enters (catalogue, CLI, API)."""
    if isinstance(value, str) and VERSION_NAME.match(value):
        return None
    shown = repr(value[:40]) if isinstance(value, str) else type(value).__name__
    return (
        f"{what} must be a string of 1 to 32 characters from A-Z a-z 0-9 _ . -"
        f" starting with a letter or digit, got {shown}"
    )


class ModelVersionSpec(BaseModel):
    """One entry of the catalogue: a named estimator with its hyper-parameters."""

    name: str
    algorithm: str
    weight: float = Field(1.0, ge=0)
    params: dict[str, Any] = Field(default_factory=dict)

    @field_validator("name")
    @classmethod
    def _name_is_safe(cls, value: str) -> str:
        # The name becomes a folder and a metric label value: keep it short and path-safe.
        if not VERSION_NAME.match(value):
            raise ValueError(f"version name {value!r} must match {VERSION_NAME.pattern}")
        return value


class VersionCatalogue(BaseModel):
    """The model versions `mlops train` builds and their default traffic split."""

    seed: int = 42
    test_size: float = Field(0.2, gt=0, lt=1)
    versions: list[ModelVersionSpec]
    # Typed training data only (`mlops train --data`): per column, what to say instead of the
    # inferred type, nullability or categories ([columns.<name>]; checked by schema.infer).
    columns: dict[str, dict[str, Any]] = Field(default_factory=dict)

    @model_validator(mode="after")
    def _names_unique(self) -> VersionCatalogue:
        names = [spec.name for spec in self.versions]
        if not names:
            raise ValueError("the catalogue names no model version")
        if len(set(names)) != len(names):
            raise ValueError(f"version names repeat: {names}")
        validate_weights({spec.name: spec.weight for spec in self.versions})
        return self

    def default_weights(self) -> dict[str, float]:
        return normalise_weights({spec.name: spec.weight for spec in self.versions})


def validate_weights(weights: Mapping[str, float], known: Collection[str] | None = None) -> None:
    """Raise ValueError unless the weights are finite, non-negative and not all zero, and, when
    ``known`` is given, name only those versions. The one check every source of weights passes:
    settings, the catalogue, an admin's PUT and a split stored by another replica."""
    if known is not None:
        unknown = sorted(set(weights) - set(known))
        if unknown:
            raise ValueError(f"unknown versions {unknown}; served: {sorted(known)}")
    if not weights:
        raise ValueError("weights name no version")
    for name, weight in weights.items():
        if isinstance(weight, bool) or not isinstance(weight, int | float):
            raise ValueError(f"weight of {name!r} is not a number")
        if not math.isfinite(weight) or weight < 0:
            raise ValueError(f"weight of {name!r} must be finite and >= 0, got {weight}")
    if sum(weights.values()) <= 0:
        raise ValueError("at least one weight must be positive")


def normalise_weights(weights: Mapping[str, float]) -> dict[str, float]:
    validate_weights(weights)
    total = sum(weights.values())
    return {name: weight / total for name, weight in weights.items()}


def load_catalogue(path: Path | None = None) -> VersionCatalogue:
    """Read the catalogue from ``path``, or the one shipped inside the package."""
    if path is None:
        text = resources.files("mlops_pipeline").joinpath("model_versions.toml").read_text("utf-8")
    else:
        text = path.read_text("utf-8")
    return VersionCatalogue.model_validate(tomllib.loads(text))
