"""Adopt model versions registered or retired at run time, on every replica, without a restart.

Each replica polls the model store (a few short rows, no ONNX bytes) and, for a version it does
not serve yet, fetches the bytes, checks their SHA-256 against the registration and the
version's own metadata, opens an ONNX Runtime session and checks it answers for this model's
features; only then is the version served. A version that fails is logged with the reason and
left out; the others keep serving.
"""

from __future__ import annotations

import hashlib
import logging
from collections.abc import Callable

import numpy as np

from mlops_pipeline.schema.model import FeatureSchema
from mlops_pipeline.serving.inference import OnnxPredictor
from mlops_pipeline.serving.served_schema import (
    SchemaMismatch,
    mismatch,
    probe_batch,
    version_schema,
)
from mlops_pipeline.serving.service import PredictionService
from mlops_pipeline.serving.typed_requests import typed_schema
from mlops_pipeline.storage.models import ACTIVE, RETIRED, ModelStore
from mlops_pipeline.storage.records import RegisteredModel
from mlops_pipeline.version_metadata import VersionMetadata

logger = logging.getLogger(__name__)


class ModelRefused(ValueError):
    """A registered version this replica will not serve, and why."""


def declared_hash_problem(metadata: VersionMetadata, digest: str) -> str | None:
    """The hash metadata.json records for model.onnx against the bytes' own: both named."""
    declared = metadata.onnx_file_hash
    if declared is None or declared == digest:
        return None
    return (
        f"model.onnx has SHA-256 {digest[:12]}, but metadata.json records"
        f" {declared[:12]}; refusing bytes that changed"
    )


def load_registered(
    model: RegisteredModel,
    onnx: bytes | None,
    n_features: int,
    n_classes: int,
    schema: FeatureSchema | None = None,
) -> OnnxPredictor:
    """A verified predictor for ``model``; raises ModelRefused with the reason. ``schema``: the
    served typed schema, which the version's own must match (every difference named)."""
    if onnx is None:
        raise ModelRefused(f"{model.version}: no model bytes are stored")
    digest = hashlib.sha256(onnx).hexdigest()
    if digest != model.sha256:
        raise ModelRefused(
            f"{model.version}: model.onnx has SHA-256 {digest[:12]}, registered as"
            f" {str(model.sha256)[:12]}; refusing bytes that changed"
        )
    problem = declared_hash_problem(VersionMetadata.parse(model.metadata), digest)
    if problem is not None:
        raise ModelRefused(f"{model.version}: {problem}")
    if schema is not None:
        try:
            own = version_schema(model.version, model.metadata)
        except SchemaMismatch as exc:
            raise ModelRefused(str(exc)) from None
        problem = mismatch("the served model", schema, model.version, own)
        if problem is not None:
            raise ModelRefused(problem)
    try:
        predictor = OnnxPredictor(model.version, onnx, schema)
        probe = np.zeros((1, n_features)) if schema is None else probe_batch(schema)
        _classes, probabilities = predictor.predict(probe)
    except Exception as exc:  # any load or run failure refuses this version, not the replica
        raise ModelRefused(f"{model.version}: the ONNX model does not load or run: {exc}") from exc
    if predictor.n_features != n_features or probabilities.shape != (1, n_classes):
        raise ModelRefused(
            f"{model.version}: takes {predictor.n_features} features and answers"
            f" {probabilities.shape[1]} classes; this model has {n_features} and {n_classes}"
        )
    return predictor


class ModelSync:
    def __init__(
        self,
        store: ModelStore,
        service: PredictionService,
        on_change: Callable[[list[str]], None] | None = None,
    ) -> None:
        self._store = store
        self._service = service
        self._on_change = on_change
        self.refused: dict[str, str] = {}  # version -> reason, so a bad one is not retried

    def sync(self) -> list[str]:
        """Apply the store's catalog; return the versions added or removed."""
        changed: list[str] = []
        service = self._service
        for model in self._store.catalog():
            served = model.version in service.versions
            if model.status == ACTIVE and not served and model.version not in self.refused:
                try:
                    predictor = load_registered(
                        model,
                        self._store.onnx(model.version),
                        len(service.feature_names),
                        len(service.class_names),
                        typed_schema(service.schema),
                    )
                except ModelRefused as exc:
                    logger.error("not serving registered model version: %s", exc)
                    self.refused[model.version] = str(exc)
                    continue
                service.add_version(model.version, predictor, dict(model.metadata))
                logger.warning(
                    "now serving model version %s (registered by %s)", model.version, model.actor
                )
                changed.append(model.version)
            elif model.status == RETIRED and served:
                if service.router.weights.get(model.version, 0.0) > 0:
                    continue  # never drop a version the split still sends traffic to
                service.remove_version(model.version)
                logger.warning("stopped serving retired model version %s", model.version)
                changed.append(model.version)
        if changed and self._on_change is not None:
            self._on_change(service.versions)
        return changed
