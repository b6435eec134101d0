"""Register a trained version from an artifacts folder: verified, checked, stored for replicas.

Used by `mlops models register` and by retraining; the checks are the ones a replica repeats
before serving (hash, metadata, the ONNX model loads and answers), then stricter ones: size caps,
an operator allow-list, and valid answers to realistic batches within the time budget.
"""

from __future__ import annotations

import hashlib
from pathlib import Path
from typing import Any

from mlops_pipeline.artifacts import ArtifactBundle, ArtifactError, VersionArtifacts, load_bundle
from mlops_pipeline.catalogue import version_name_problem
from mlops_pipeline.delivery.model_checks import (
    RegistrationLimits,
    batch_rows,
    ops_problem,
    realistic_batches,
    size_problem,
)
from mlops_pipeline.errors import ModelFailure
from mlops_pipeline.serving.model_sync import ModelRefused, load_registered
from mlops_pipeline.serving.served_schema import (
    SchemaMismatch,
    mismatch,
    served_schema,
    version_schema,
)
from mlops_pipeline.serving.typed_requests import typed_schema
from mlops_pipeline.storage import DuplicateKey, Storage
from mlops_pipeline.storage.records import RegisteredModel


class RegistrationRefused(ValueError):
    """The version cannot be registered; the message says why."""


def register_folder(
    storage: Storage,
    folder: Path,
    version: str,
    served_dir: Path,
    actor: str,
    now: float,
    limits: RegistrationLimits | None = None,
) -> RegisteredModel:
    # Before anything reads the folder: the name becomes a path, a label and a log field.
    problem = version_name_problem(version)
    if problem is not None:
        raise RegistrationRefused(f"refusing to register: {problem}")
    bundle, served = _compatible_bundles(folder, version, served_dir)
    artifacts = bundle.versions[version]
    limits = limits if limits is not None else RegistrationLimits()
    digest = hashlib.sha256(artifacts.onnx_bytes).hexdigest()
    model = RegisteredModel(version, "active", digest, artifacts.metadata.raw, now, now, actor)
    _check_model(model, artifacts, bundle, served, limits)
    try:
        storage.models.register(
            version, artifacts.onnx_bytes, digest, artifacts.metadata.raw, actor, now,
            reference=drift_reference(bundle.training_stats),
        )  # fmt: skip
    except DuplicateKey:
        raise RegistrationRefused(
            f"{version} was registered before; a retired name is never reused"
        ) from None
    return model


def _compatible_bundles(
    folder: Path, version: str, served_dir: Path
) -> tuple[ArtifactBundle, ArtifactBundle]:
    """The folder's bundle and the served one, when the folder holds a new ``version`` trained
    on the served features and classes."""
    try:
        bundle = load_bundle(folder)
        served = load_bundle(served_dir)
    except ArtifactError as exc:
        raise RegistrationRefused(f"refusing to register: {exc}") from exc
    if version not in bundle.versions:
        raise RegistrationRefused(
            f"{folder} holds no version {version!r}: {sorted(bundle.versions)}"
        )
    if version in served.versions:
        raise RegistrationRefused(
            f"{version} is a trained version already served from {served_dir}"
        )
    try:  # every served version shares one schema: a candidate differing is refused, spelled out
        served_typed = served_schema({n: v.metadata.raw for n, v in served.versions.items()})
        problem = None
        if served_typed is not None:
            own = version_schema(version, bundle.versions[version].metadata.raw)
            problem = mismatch("the served model", served_typed, version, own)
    except SchemaMismatch as exc:
        problem = str(exc)
    if problem is not None:
        raise RegistrationRefused(f"refusing to register: {problem}")
    if (bundle.feature_names, bundle.class_names) != (served.feature_names, served.class_names):
        raise RegistrationRefused(
            f"{version} was trained on features {list(bundle.feature_names)} and classes"
            f" {list(bundle.class_names)}; the served model uses {list(served.feature_names)}"
            f" and {list(served.class_names)}"
        )
    return bundle, served


def _check_model(
    model: RegisteredModel,
    artifacts: VersionArtifacts,
    bundle: ArtifactBundle,
    served: ArtifactBundle,
    limits: RegistrationLimits,
) -> None:
    """Within the limits, loadable, and answering realistic batches in time, as replicas will."""
    version = model.version
    # (metadata.json's own record of the hash is checked by load_registered, as replicas do.)
    problem = size_problem(artifacts.onnx_bytes, artifacts.metadata, limits) or ops_problem(
        artifacts.onnx_bytes, limits.allowed_ops
    )
    if problem is not None:
        raise RegistrationRefused(f"refusing to register {version}: {problem}")
    n_classes = len(served.class_names)
    schema = typed_schema(served_schema({n: v.metadata.raw for n, v in served.versions.items()}))
    try:
        predictor = load_registered(
            model, artifacts.onnx_bytes, len(served.feature_names), n_classes, schema
        )
        for batch in realistic_batches(bundle.training_stats):
            predictor.predict(batch, n_classes, limits.timeout_ms)
    except ModelRefused as exc:
        raise RegistrationRefused(f"refusing to register: {exc}") from exc
    except ModelFailure as exc:
        raise RegistrationRefused(
            f"refusing to register: on {batch_rows(batch)} training rows, {exc.message}"
        ) from exc


def drift_reference(stats: dict[str, Any]) -> dict[str, Any] | None:
    """The folder's training statistics, kept as the version's drift reference; None when they
    hold no row sample, float (``sample``) or typed (``typed_sample``, a retrained typed
    candidate's): drift then stays measured against the served artifacts."""
    if stats.get("sample") is None and stats.get("typed_sample") is None:
        return None
    return stats
