"""The prediction service: route, infer, record. It knows nothing about HTTP."""

from __future__ import annotations

import logging
import time
from collections.abc import Callable, Mapping
from dataclasses import dataclass
from typing import Any

import numpy as np
from numpy.typing import NDArray

from mlops_pipeline.errors import LogUnavailable, ModelFailure, UnknownVersion
from mlops_pipeline.monitoring.metrics import Metrics
from mlops_pipeline.schema.model import FeatureSchema
from mlops_pipeline.serving.inference import OnnxPredictor
from mlops_pipeline.serving.routing import ABRouter
from mlops_pipeline.serving.shadow import ShadowJob, ShadowScorer
from mlops_pipeline.serving.validation import PredictRequest
from mlops_pipeline.storage import StoreUnavailable
from mlops_pipeline.storage.failures import FailureStore
from mlops_pipeline.storage.predictions import PredictionLog
from mlops_pipeline.storage.records import PINNED, ROUTED, PredictionBatch
from mlops_pipeline.telemetry.tracing import span

logger = logging.getLogger(__name__)


@dataclass(frozen=True)
class Prediction:
    request_id: str
    model_version: str
    classes: NDArray[np.int64]
    probabilities: NDArray[np.float64]
    latency_ms: float


class PredictionService:
    def __init__(
        self,
        predictors: Mapping[str, OnnxPredictor],
        router: ABRouter,
        store: PredictionLog | None,
        metrics: Metrics,
        feature_names: tuple[str, ...],
        class_names: tuple[str, ...],
        model_metadata: Mapping[str, dict[str, Any]],
        feature_ranges: Mapping[str, dict[str, float]] | None = None,
        clock: Callable[[], float] = time.time,
        timer: Callable[[], float] = time.perf_counter,
        shadow: ShadowScorer | None = None,
        failures: FailureStore | None = None,
        inference_timeout_ms: float | None = None,
        schema: FeatureSchema | None = None,
    ) -> None:
        """``schema``: the one every served version shares (typed requests are parsed by it);
        None for a bundle trained before schemas, served as float vectors."""
        unknown = set(router.versions) - set(predictors)
        if unknown:
            raise ValueError(f"router weights name versions with no model: {sorted(unknown)}")
        self._predictors = dict(predictors)
        self.router = router
        self._store = store
        self.metrics = metrics
        self.feature_names = feature_names
        self.class_names = class_names
        self._model_metadata = dict(model_metadata)
        self._feature_ranges = dict(feature_ranges or {})
        self._clock = clock
        self._timer = timer
        self.shadow = shadow
        self._failures = failures
        self._timeout_ms = inference_timeout_ms
        self.schema = schema

    @property
    def ready(self) -> bool:
        return bool(self._predictors)

    @property
    def versions(self) -> list[str]:
        return list(self._predictors)

    def add_version(self, name: str, predictor: OnnxPredictor, metadata: dict[str, Any]) -> None:
        """Serve another version (weight 0 until a person or a rollout gives it traffic).

        Copy-on-write: a request in flight keeps the mapping it looked up, so nothing is
        dropped or half-added while another thread swaps it.
        """
        self._predictors = {**self._predictors, name: predictor}
        self._model_metadata = {**self._model_metadata, name: metadata}
        files = metadata.get("files", {})
        self.metrics.add_version(
            name,
            str(metadata.get("algorithm", "unknown")),
            str(files.get("model.onnx", "") if isinstance(files, dict) else ""),
            self.class_names,
        )

    def predictor(self, name: str) -> OnnxPredictor | None:
        return self._predictors.get(name)

    def remove_version(self, name: str) -> None:
        """Stop serving a retired version; refused while the router still sends it traffic."""
        if self.router.weights.get(name, 0.0) > 0:
            raise ValueError(f"{name} still has traffic: {self.router.weights}")
        self._predictors = {k: v for k, v in self._predictors.items() if k != name}
        self._model_metadata = {k: v for k, v in self._model_metadata.items() if k != name}

    def predict(
        self,
        request: PredictRequest,
        request_id: str,
        version: str | None = None,
        client_id: str | None = None,
    ) -> Prediction:
        """Answer with ``version`` when given (a pinned request), else the router's choice;
        ``client_id`` (who asked) is logged with the answer."""
        started = self._timer()
        with span("route") as routing:
            if version is None:
                version, assignment = self.router.choose(request.user_id), ROUTED
            elif version in self._predictors:
                assignment = PINNED
            else:
                raise UnknownVersion(f"no model version {version!r}; served: {self.versions}")
            routing.set_attribute("mlops.model_version", version)
            routing.set_attribute("mlops.assignment", assignment)
        try:
            with span("model.infer", {"mlops.model_version": version}):
                classes, probabilities = self._predictors[version].predict(
                    request.rows, len(self.class_names), self._timeout_ms
                )
        except ModelFailure as failure:  # nothing of the answer is logged or returned
            self.metrics.count_model_failure(version, failure.reason)
            self._record_failure(version, assignment, failure.code)
            raise
        except Exception:
            self._record_failure(version, assignment)
            raise
        inference_seconds = self._timer() - started
        latency_ms = inference_seconds * 1000
        if self._store is not None:
            # Committed before the caller answers: an answered prediction is never lost. A log
            # that cannot take the write fails the request fast rather than answer unlogged.
            batch = PredictionBatch(
                request_id=request_id,
                created_at=self._clock(),
                model_version=version,
                user_id=request.user_id,
                features=request.rows,
                predictions=classes,
                probabilities=probabilities,
                latency_ms=latency_ms,
                assignment=assignment,
                weights_version=self.router.version,
                client_id=client_id,
            )
            try:
                with span("log.append"):
                    self._store.append(batch)
            except StoreUnavailable as exc:
                self.metrics.count_log_failure()
                # The client gets the cause's last clause ("database or disk is full",
                # "Connection refused"); host, port and role stay in the server's log.
                logger.error("the prediction log cannot record answers: %s", exc)
                cause = str(exc).rsplit(": ", 1)[-1][:200]
                raise LogUnavailable(f"the prediction log cannot record answers: {cause}") from exc
        self._record_metrics(version, classes, inference_seconds)
        if self.shadow is not None:
            self.shadow.submit(ShadowJob(request_id, version, request.rows, classes))
        return Prediction(request_id, version, classes, probabilities, latency_ms)

    def _record_metrics(self, version: str, classes: NDArray[np.int64], seconds: float) -> None:
        if len(classes) == 1:
            counts = {self.class_names[int(classes[0])]: 1}
        else:
            per_class = np.bincount(classes, minlength=len(self.class_names))
            counts = {self.class_names[i]: int(per_class[i]) for i in np.flatnonzero(per_class)}
        self.metrics.observe_prediction(version, counts, seconds)

    def _record_failure(
        self, version: str, assignment: str, code: str = "inference_failed"
    ) -> None:
        """A version that raised: the rollout's error-rate guardrail counts these (best effort:
        the client gets its 5xx either way)."""
        if self._failures is None:
            return
        try:
            self._failures.record(version, self.router.version, assignment, code, self._clock())
        except StoreUnavailable:
            self.metrics.count_log_failure()

    def record_rejection(self, code: str) -> None:
        """An input refused as invalid: drift detection counts these as bad values."""
        if self._store is None:
            return
        try:
            self._store.record_rejection(code, self._clock())
        except StoreUnavailable:
            # Best effort: the client still gets the 400 for its input, not a 503 for ours.
            self.metrics.count_log_failure()

    def recent_predictions(self, limit: int) -> list[dict[str, Any]]:
        return [] if self._store is None else self._store.recent(limit)

    def models(self) -> dict[str, dict[str, Any]]:
        return dict(self._model_metadata)

    def config(self) -> dict[str, Any]:
        return {
            "weights": self.router.weights,
            "versions": self.versions,
            "feature_names": list(self.feature_names),
            "class_names": list(self.class_names),
            "feature_ranges": self._feature_ranges,
            "prediction_log": self._store is not None,
            "shadow_version": self.shadow.version if self.shadow is not None else None,
        }
