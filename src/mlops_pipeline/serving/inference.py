"""Serve a compiled model with ONNX Runtime: no scikit-learn on the request path."""

from __future__ import annotations

import numpy as np
from numpy.typing import NDArray


class OnnxPredictor:
    """One model version's ONNX session; ``predict`` returns (class indices, probabilities)."""

    def __init__(self, version: str, onnx_bytes: bytes) -> None:
        import onnxruntime as ort

        options = ort.SessionOptions()
        # One thread: requests are tiny and parallelism comes from gunicorn workers;
        # a thread pool would only add wake-up latency and contend with the other worker.
        options.intra_op_num_threads = 1
        options.inter_op_num_threads = 1
        self.version = version
        self._session = ort.InferenceSession(
            onnx_bytes, options, providers=["CPUExecutionProvider"]
        )
        self._input_name = self._session.get_inputs()[0].name
        shape = self._session.get_inputs()[0].shape
        self.n_features = int(shape[1])

    def predict(
        self, features: NDArray[np.float64]
    ) -> tuple[NDArray[np.int64], NDArray[np.float64]]:
        # scikit-learn trees compare float32-rounded inputs; round the same way to answer alike.
        rounded = features.astype(np.float32).astype(np.float64)
        labels, probabilities = self._session.run(None, {self._input_name: rounded})
        return np.asarray(labels, dtype=np.int64), np.asarray(probabilities, dtype=np.float64)
