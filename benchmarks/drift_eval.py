"""Drift detector evaluation on synthetic Iris streams. Prints numbers; asserts nothing.

Streams come from a class-conditional Gaussian fitted to Iris, rounded to 0.1 cm: unlimited
drift-free data. Each run sends PRE drift-free rows, then rows with the change; the detector
re-tests the newest WINDOW rows every STEP rows, as the API's monitor does.

Run: .venv/bin/python -m benchmarks.drift_eval [--runs 200]
"""

from __future__ import annotations

import argparse
import statistics
import tempfile
import time
from collections.abc import Callable
from pathlib import Path

import numpy as np
from numpy.typing import NDArray

from mlops_pipeline.artifacts import load_bundle
from mlops_pipeline.config import load_catalogue
from mlops_pipeline.monitoring.drift import Reference, Window, drift_report, ks_pvalue
from mlops_pipeline.serving.inference import OnnxPredictor
from mlops_pipeline.training.data import load_iris_dataset
from mlops_pipeline.training.synthetic import ClassConditionalGaussian
from mlops_pipeline.training.trainer import train_all

WINDOW, STEP, PRE, POST = 100, 10, 300, 300
Transform = Callable[[NDArray[np.float64], np.random.Generator], NDArray[np.float64]]


def scenarios(
    gen: ClassConditionalGaussian, names: tuple[str, ...]
) -> dict[str, tuple[Transform | None, NDArray[np.float64] | None]]:
    sd = gen.overall_std
    result: dict[str, tuple[Transform | None, NDArray[np.float64] | None]] = {}

    def shift(i: int, amount: float) -> Transform:
        def apply(rows: NDArray[np.float64], _: np.random.Generator) -> NDArray[np.float64]:
            out = rows.copy()
            out[:, i] = np.round((out[:, i] + amount * sd[i]) * 10) / 10
            return out

        return apply

    def scale(i: int, factor: float) -> Transform:
        centre = float(gen.priors @ gen.means[:, i])

        def apply(rows: NDArray[np.float64], _: np.random.Generator) -> NDArray[np.float64]:
            out = rows.copy()
            scaled = centre + (out[:, i] - centre) * factor
            out[:, i] = np.maximum(np.round(scaled * 10) / 10, 0.1)
            return out

        return apply

    def millimetres(i: int) -> Transform:
        def apply(rows: NDArray[np.float64], _: np.random.Generator) -> NDArray[np.float64]:
            out = rows.copy()
            out[:, i] = out[:, i] * 10
            return out

        return apply

    def constant(i: int) -> Transform:
        value = round(float(gen.priors @ gen.means[:, i]), 1)

        def apply(rows: NDArray[np.float64], _: np.random.Generator) -> NDArray[np.float64]:
            out = rows.copy()
            out[:, i] = value
            return out

        return apply

    for i, name in enumerate(names):
        result[f"shift +1 SD {name}"] = (shift(i, 1.0), None)
    for i, name in enumerate(names):
        result[f"shift +0.5 SD {name}"] = (shift(i, 0.5), None)
    for i, name in enumerate(names):
        result[f"scale x1.5 {name}"] = (scale(i, 1.5), None)
    result["class prior 0.6/0.2/0.2"] = (None, np.array([0.6, 0.2, 0.2]))
    for i, name in enumerate(names):
        result[f"cm -> mm {name}"] = (millimetres(i), None)
    for i, name in enumerate(names):
        result[f"constant {name}"] = (constant(i), None)
    return result


class Stream:
    def __init__(
        self, gen: ClassConditionalGaussian, predictors: list[OnnxPredictor], seed: int
    ) -> None:
        self.gen, self.predictors, self.rng = gen, predictors, np.random.default_rng(seed)

    def make(
        self, transform: Transform | None, priors: NDArray[np.float64] | None, post: int
    ) -> tuple[NDArray[np.float64], NDArray[np.int64], list[str]]:
        before, _ = self.gen.sample(PRE, self.rng)
        after, _ = self.gen.sample(post, self.rng, priors=priors)
        if transform is not None:
            after = transform(after, self.rng)
        rows = np.vstack([before, after])
        versions = self.rng.integers(0, len(self.predictors), size=len(rows))
        predictions = np.empty(len(rows), dtype=np.int64)
        for index, predictor in enumerate(self.predictors):
            mask = versions == index
            if mask.any():
                predictions[mask] = predictor.predict(rows[mask])[0]
        return rows, predictions, [self.predictors[v].version for v in versions]


def ours(reference: Reference, threshold: float) -> Callable[[Window], tuple[bool, float]]:
    def detect(window: Window) -> tuple[bool, float]:
        report = drift_report(reference, window, threshold, WINDOW, 0.0).to_json()
        return bool(report["drift"]), float(report["score"])

    return detect


def ks_bonferroni(
    reference: Reference, alpha: float = 0.05
) -> Callable[[Window], tuple[bool, float]]:
    k = len(reference.feature_names)

    def detect(window: Window) -> tuple[bool, float]:
        p = min(ks_pvalue(reference.sample[:, i], window.features[:, i])[1] for i in range(k))
        return p * k < alpha, p

    return detect


def first_alarm(
    detect: Callable[[Window], tuple[bool, float]],
    rows: NDArray[np.float64],
    predictions: NDArray[np.int64],
    versions: list[str],
    start: int,
) -> int | None:
    """Rows after ``start`` at the first alarming evaluation at or after it; None if none."""
    for end in range(start + STEP, len(rows) + 1, STEP):
        window = Window(
            rows[end - WINDOW : end], predictions[end - WINDOW : end], versions[end - WINDOW : end]
        )
        if detect(window)[0]:
            return end - start
    return None


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--runs", type=int, default=200)
    parser.add_argument("--threshold", type=float, default=0.5)
    args = parser.parse_args()
    started = time.perf_counter()

    iris = load_iris_dataset()
    with tempfile.TemporaryDirectory() as folder:
        train_all(iris, load_catalogue(), Path(folder) / "a")
        bundle = load_bundle(Path(folder) / "a")
    reference = Reference.from_training_stats(bundle.training_stats)
    predictors = [OnnxPredictor(name, v.onnx_bytes) for name, v in bundle.versions.items()]
    gen = ClassConditionalGaussian.fit(iris.features, iris.labels)
    detectors = {"ours": ours(reference, args.threshold), "KS+Bonferroni": ks_bonferroni(reference)}

    # Drift-free: share of evaluated windows that alarm, and the score distribution.
    alarms = {name: 0 for name in detectors}
    runs_alarming = {name: 0 for name in detectors}
    scores: list[float] = []
    evaluations = 0
    for run in range(args.runs):
        rows, predictions, versions = Stream(gen, predictors, run).make(None, None, POST)
        hit = dict.fromkeys(detectors, False)
        for end in range(WINDOW, len(rows) + 1, STEP):
            window = Window(
                rows[end - WINDOW : end],
                predictions[end - WINDOW : end],
                versions[end - WINDOW : end],
            )
            evaluations += 1
            for name, detect in detectors.items():
                alarm, value = detect(window)
                alarms[name] += alarm
                hit[name] |= alarm
                if name == "ours":
                    scores.append(value)
        for name in detectors:
            runs_alarming[name] += hit[name]
    print(
        f"drift-free: {args.runs} streams of {PRE + POST} rows, window {WINDOW},"
        f" re-tested every {STEP} rows ({evaluations} windows)"
    )
    for name in detectors:
        print(
            f"  {name:14s} false alarms on {alarms[name] / evaluations:6.2%} of windows;"
            f" {runs_alarming[name] / args.runs:6.1%} of streams alarm at least once"
        )
    quantiles = np.quantile(scores, [0.5, 0.9, 0.95, 0.99, 0.999])
    print("  score quantiles (ours) 50/90/95/99/99.9%: " + " ".join(f"{q:.3f}" for q in quantiles))
    for threshold in (0.4, 0.45, 0.5, 0.55, 0.6):
        print(
            f"    threshold {threshold:.2f}: false alarms on"
            f" {np.mean(np.array(scores) >= threshold):6.2%} of windows"
        )

    print(
        f"\nchange after {PRE} drift-free rows; detected = alarm within 200 rows of the change"
        f" ({args.runs} runs each)"
    )
    print(
        f"  {'scenario':34s} {'ours: rate':>11s} {'median delay':>13s}"
        f"   {'KS+Bonf: rate':>13s} {'median delay':>13s}"
    )
    for label, (transform, priors) in scenarios(gen, reference.feature_names).items():
        cells = []
        for detect in detectors.values():
            delays = []
            for run in range(args.runs):
                rows, predictions, versions = Stream(gen, predictors, 10_000 + run).make(
                    transform, priors, 200
                )
                delays.append(first_alarm(detect, rows, predictions, versions, PRE))
            found = [d for d in delays if d is not None and d <= 200]
            rate = len(found) / args.runs
            median = f"{statistics.median(found):.0f}" if found else "-"
            cells.append(f"{rate:11.1%} {median:>13s}")
        print(f"  {label:34s} {cells[0]}   {cells[1]:>27s}")
    print(f"\n({time.perf_counter() - started:.0f} s)")


if __name__ == "__main__":
    main()
