"""Serve a compiled model with ONNX Runtime: no scikit-learn on the request path.

Nothing a model answers is trusted: ``check_answer`` checks every answer before anyone uses it
(one class index per row, probabilities finite and summing to 1), and a run past its time budget
is stopped, so one crafted graph cannot stall a worker or corrupt the prediction log.
"""

from __future__ import annotations

import itertools
import logging
import os
import threading
import time
from collections.abc import Sequence
from typing import Any

import numpy as np
from numpy.typing import NDArray

from mlops_pipeline.errors import InferenceTimeout, InvalidModelAnswer, ModelFailure
from mlops_pipeline.schema.model import FeatureSchema
from mlops_pipeline.schema.rows import TypedBatch
from mlops_pipeline.serving.feed import batch_feed

logger = logging.getLogger(__name__)

# Float32 probabilities summed over a few classes stay within 1e-6 of 1; this is far looser.
PROBABILITY_TOLERANCE = 1e-4
SMALL_ANSWER_ROWS = 16


class AnswerProblem(ValueError):
    """What is wrong with a model's answer; ``reason`` is one of FAILURE_REASONS."""

    def __init__(self, reason: str, message: str) -> None:
        super().__init__(message)
        self.reason = reason


def check_answer(
    outputs: Sequence[Any], rows: int, n_classes: int
) -> tuple[NDArray[np.int64], NDArray[np.float64]]:
    """(labels, probabilities) when ``outputs`` answer ``rows`` input rows over ``n_classes``
    classes; AnswerProblem naming the first thing wrong otherwise."""
    if len(outputs) != 2:
        raise AnswerProblem("outputs", f"{len(outputs)} outputs; expected labels and probabilities")
    labels, probabilities = np.asarray(outputs[0]), np.asarray(outputs[1])
    if labels.shape != (rows,):
        raise AnswerProblem("shape", f"labels of shape {list(labels.shape)} for {rows} input rows")
    if probabilities.shape != (rows, n_classes):
        raise AnswerProblem(
            "shape",
            f"probabilities of shape {list(probabilities.shape)}; expected [{rows}, {n_classes}]",
        )
    if labels.dtype.kind not in "iu":
        raise AnswerProblem("label", f"labels of type {labels.dtype}; expected class indices")
    if probabilities.dtype.kind != "f":
        raise AnswerProblem("probabilities", f"probabilities of type {probabilities.dtype}")
    answered = probabilities.astype(np.float64, copy=False)
    # This runs on every request: a few rows are checked as Python numbers, since each numpy
    # reduction costs more than the whole check of a one-row answer.
    if rows <= SMALL_ANSWER_ROWS:
        _check_small(labels.tolist(), answered.tolist(), n_classes)
    else:
        _check_large(labels, answered, n_classes)
    return labels.astype(np.int64, copy=False), answered


def _check_small(labels: list[int], rows: list[list[float]], n_classes: int) -> None:
    for label in labels:
        if not 0 <= label < n_classes:
            raise _label_problem(label, n_classes)
    for index, row in enumerate(rows):
        # NaN fails every comparison: only finite values in [0, 1] pass.
        if not all(-PROBABILITY_TOLERANCE <= value <= 1 + PROBABILITY_TOLERANCE for value in row):
            raise _range_problem(np.asarray(row))
        total = sum(row)
        if abs(total - 1) > PROBABILITY_TOLERANCE:
            raise _sum_problem(index, total)


def _check_large(labels: NDArray[Any], answered: NDArray[np.float64], n_classes: int) -> None:
    if labels.min() < 0 or labels.max() >= n_classes:
        raise _label_problem(int(labels[(labels < 0) | (labels >= n_classes)][0]), n_classes)
    low, high = answered.min(), answered.max()
    if not (low >= -PROBABILITY_TOLERANCE and high <= 1 + PROBABILITY_TOLERANCE):
        raise _range_problem(answered)
    deviation = np.abs(answered.sum(axis=1) - 1)
    if deviation.max() > PROBABILITY_TOLERANCE:
        worst = int(np.argmax(deviation))
        raise _sum_problem(worst, float(answered[worst].sum()))


def _label_problem(label: int, n_classes: int) -> AnswerProblem:
    return AnswerProblem("label", f"label {label} is not a class index 0-{n_classes - 1}")


def _range_problem(values: NDArray[np.float64]) -> AnswerProblem:
    if not np.isfinite(values).all():
        return AnswerProblem("probabilities", "probabilities that are not finite (NaN or infinity)")
    return AnswerProblem("probabilities", "probabilities outside [0, 1]")


def _sum_problem(row: int, total: float) -> AnswerProblem:
    return AnswerProblem("probabilities", f"probabilities of row {row} sum to {total:.6g}")


class Watchdog:
    """Stops runs past their deadline: one daemon thread per process sets ``terminate`` on their
    RunOptions, which ONNX Runtime checks between nodes and loop iterations (the run then fails).

    It polls while runs are armed and sleeps otherwise: arming is a dict insert on the request
    path, not a wake-up of another thread.
    """

    # The longest a run outlives its deadline. A 10 ms tick woke a busy process 100 times a
    # second; the sleep is cut short when a deadline is nearer than this.
    TICK_SECONDS = 0.1
    MIN_TICK_SECONDS = 0.005

    def __init__(self) -> None:
        self._runs: dict[int, tuple[float, Any]] = {}
        self._tokens = itertools.count()
        self._busy = threading.Event()
        self._pid: int | None = None
        self._lock = threading.Lock()
        self._stop = threading.Event()
        self._thread: threading.Thread | None = None

    def arm(self, options: Any, deadline: float) -> int:
        if self._pid != os.getpid():  # first use, or a forked worker: the thread did not follow
            self._start()
        token = next(self._tokens)
        self._runs[token] = (deadline, options)
        if not self._busy.is_set():
            self._busy.set()
        return token

    def disarm(self, token: int) -> None:
        self._runs.pop(token, None)

    def _start(self) -> None:
        with self._lock:
            if self._pid == os.getpid():
                return
            self._runs, self._busy = {}, threading.Event()  # a parent's may be mid-use
            self._stop = threading.Event()
            self._pid = os.getpid()
            self._thread = threading.Thread(
                target=self._watch, args=(self._stop,), name="inference-budget", daemon=True
            )
            self._thread.start()

    def close(self) -> None:
        """End this process's thread (a worker's exit); a later ``arm`` starts a new one."""
        with self._lock:
            thread = self._thread if self._pid == os.getpid() else None
            self._pid, self._thread = None, None
            self._stop.set()
            self._busy.set()  # wake it from its idle wait so it sees the stop
        if thread is not None:
            thread.join(timeout=5)

    def _watch(self, stop: threading.Event) -> None:
        while True:
            self._busy.wait()
            if stop.is_set():
                return
            runs = list(self._runs.copy().values())
            now = time.monotonic()
            for deadline, options in runs:
                if deadline <= now:
                    options.terminate = True
            if not runs:
                self._busy.clear()
                if self._runs:  # armed between the copy and the clear
                    self._busy.set()
                continue
            nearest = min((deadline for deadline, _ in runs if deadline > now), default=None)
            pause = self.TICK_SECONDS if nearest is None else min(self.TICK_SECONDS, nearest - now)
            stop.wait(max(pause, self.MIN_TICK_SECONDS))  # cut short by close()


WATCHDOG = Watchdog()


class OnnxPredictor:
    """One model version's ONNX session; ``predict`` returns (class indices, probabilities)."""

    def __init__(
        self, version: str, onnx_bytes: bytes, schema: FeatureSchema | None = None
    ) -> None:
        """``schema``: the served typed schema (one named input per column, fed by batch_feed);
        None for a single ``[N, n_features]`` float tensor (Iris, numeric CSVs)."""
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
        inputs = self._session.get_inputs()
        self._input_name = inputs[0].name
        self.schema = schema
        if schema is None:
            self.n_features = int(inputs[0].shape[1])
        else:
            names = [node.name for node in inputs]
            if names != schema.names:
                raise ValueError(
                    f"model version {version} takes inputs {names}; the schema's columns are"
                    f" {schema.names}"
                )
            self.n_features = len(names)
        # Every feed holds exactly the model's inputs (one float tensor, or the schema's
        # columns, checked equal to the inputs above), so the Python wrapper's check of the
        # feed's names on each call (two pybind reads per input: about 8 us for seven inputs,
        # more than a small graph's nodes) is redundant: call the session's native run. ORT's
        # C++ side still refuses a missing input or a wrong type. The wrapper's run stays the
        # fallback should a release of onnxruntime drop its ``_sess`` attribute.
        self._outputs = [node.name for node in self._session.get_outputs()]
        native = getattr(self._session, "_sess", None)
        self._session_run = getattr(native, "run", None) or self._session.run

    def predict(
        self,
        features: NDArray[np.float64] | TypedBatch,
        n_classes: int | None = None,
        timeout_ms: float | None = None,
    ) -> tuple[NDArray[np.int64], NDArray[np.float64]]:
        """Checked (class indices, probabilities) for ``features``; a ModelFailure naming this
        version when the graph fails, runs past ``timeout_ms`` or answers invalidly.
        ``n_classes`` unset takes the width of the answer's probabilities. A TypedBatch (a typed
        schema's rows) is fed one named input per column."""
        if isinstance(features, TypedBatch):
            return self._predict_typed(features, n_classes, timeout_ms)
        # scikit-learn trees compare float32-rounded inputs; round the same way to answer alike.
        rounded = features.astype(np.float32).astype(np.float64)
        outputs = self._run({self._input_name: rounded}, timeout_ms)
        return self._checked(outputs, len(features), n_classes)

    def _predict_typed(
        self, batch: TypedBatch, n_classes: int | None, timeout_ms: float | None
    ) -> tuple[NDArray[np.int64], NDArray[np.float64]]:
        if self.schema is None:  # a typed row for a float-tensor model: a wiring mistake
            raise TypeError(f"model version {self.version} takes a float tensor, not typed rows")
        # No float32 rounding here: the exported pipeline casts inside the graph, as it did
        # when its parity with scikit-learn was measured.
        outputs = self._run(batch_feed(self.schema, batch), timeout_ms)
        return self._checked(outputs, batch.n_rows, n_classes)

    def _checked(
        self, outputs: list[Any], rows: int, n_classes: int | None
    ) -> tuple[NDArray[np.int64], NDArray[np.float64]]:
        if n_classes is None:
            width: tuple[int, ...] = np.shape(outputs[-1]) if outputs else ()
            n_classes = int(width[-1]) if len(width) == 2 else 0
        try:
            return check_answer(outputs, rows, n_classes)
        except AnswerProblem as problem:
            logger.error("model version %s answered invalidly: %s", self.version, problem)
            raise InvalidModelAnswer(
                self.version, problem.reason, f"invalid answer refused: {problem}"
            ) from None

    def _run(self, feed: dict[str, Any], timeout_ms: float | None) -> list[Any]:
        import onnxruntime as ort

        options = None
        try:
            if timeout_ms is None:
                return list(self._session_run(self._outputs, feed, None))
            options = ort.RunOptions()
            options.log_severity_level = 4  # a stopped run is reported once, below
            token = WATCHDOG.arm(options, time.monotonic() + timeout_ms / 1000)
            try:
                return list(self._session_run(self._outputs, feed, options))
            finally:
                WATCHDOG.disarm(token)
        except Exception as exc:
            if options is not None and options.terminate:
                logger.error("model version %s stopped after %g ms", self.version, timeout_ms)
                raise InferenceTimeout(
                    self.version, "timeout", f"stopped after the {timeout_ms:g} ms inference budget"
                ) from None
            logger.error("model version %s failed to run: %s", self.version, exc)
            raise ModelFailure(
                self.version, "error", "the ONNX graph failed to run (the server log has details)"
            ) from exc
