"""Typed drift calibration on Palmer Penguins. Prints numbers; asserts nothing.

The reference is training_stats of a stratified 80% training split (training/typed_trainer.py's
``reference_statistics``), with the predicted-class shares set to the training labels' shares.
Each trial draws one window of WINDOW rows and runs ``typed_drift_report`` at the default
threshold; a window's predictions are its rows' true labels (drift-free: the class test's null
holds exactly). Scenarios:

- resampled: windows resampled with replacement from the training rows (the issue's null);
- population: a stricter null; reference and window both drawn independently from a smoothed
  penguins population (all rows, numeric values jittered by 2% of their spread), so the
  reference's own sampling noise is in play as it is in production;
- island shift: training rows resampled with Torgersen rows three times as likely
  (Torgersen ~15% -> ~35% of the window);
- sex emptied / bill length emptied: resampled rows with that column missing in every row.

Run: .venv/bin/python -m benchmarks.typed_drift_eval [--trials 2000] [--window 100]
"""

from __future__ import annotations

import argparse
import time
from collections.abc import Callable
from pathlib import Path
from typing import Any

import numpy as np

from mlops_pipeline.monitoring.typed_drift import TYPED_ALPHA, typed_drift_report
from mlops_pipeline.monitoring.typed_reference import TypedReference, TypedWindow
from mlops_pipeline.training.typed_data import TypedDataset, load_typed_csv
from mlops_pipeline.training.typed_trainer import reference_statistics

THRESHOLD = 0.4  # Settings.drift_threshold's default
Draw = Callable[[np.random.Generator], tuple[dict[str, list[Any]], np.ndarray]]


def penguins() -> TypedDataset:
    import palmerpenguins

    return load_typed_csv(Path(palmerpenguins.__file__).parent / "data" / "penguins.csv", "species")


def reference_of(dataset: TypedDataset, rows: np.ndarray, frame: Any) -> TypedReference:
    train = frame.iloc[rows].reset_index(drop=True)
    stats = reference_statistics(dataset, train, dataset.labels[rows])
    stats["predicted_class_shares"] = {"v1": stats["class_shares"]}
    return TypedReference.from_training_stats(stats)


def columns_of(frame: Any) -> dict[str, list[Any]]:
    """Per column its values, None where missing (what the log's typed rows hold)."""
    return {
        name: [None if v is None or v != v else v for v in frame[name].tolist()]
        for name in frame.columns
    }


def resampler(
    columns: dict[str, list[Any]], labels: np.ndarray, window: int, weights: np.ndarray | None
) -> Draw:
    arrays = {name: np.array(values, dtype=object) for name, values in columns.items()}
    p = None if weights is None else weights / weights.sum()

    def draw(rng: np.random.Generator) -> tuple[dict[str, list[Any]], np.ndarray]:
        pick = rng.choice(len(labels), size=window, replace=True, p=p)
        return {name: values[pick].tolist() for name, values in arrays.items()}, labels[pick]

    return draw


def rate(reference_for: Callable[[np.random.Generator], TypedReference], draw: Draw,
         trials: int, seed: int) -> tuple[float, dict[str, int]]:  # fmt: skip
    """Share of trials raising drift, and which column's test raised it how often."""
    rng = np.random.default_rng(seed)
    alarms, by_test = 0, dict[str, int]()
    for _ in range(trials):
        reference = reference_for(rng)
        values, labels = draw(rng)
        window = TypedWindow(values, labels.astype(np.int64), ["v1"] * len(labels))
        report = typed_drift_report(reference, window, THRESHOLD, 30, 0.0)
        if report.drift:
            alarms += 1
            assert report.columns is not None
            for name, column in report.columns.items():
                if column.drift:
                    by_test[f"{name}:{column.test}"] = by_test.get(f"{name}:{column.test}", 0) + 1
            if report.prediction and report.prediction.adjusted_pvalue <= TYPED_ALPHA:
                by_test["predicted classes"] = by_test.get("predicted classes", 0) + 1
    return alarms / trials, by_test


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--trials", type=int, default=2000)
    parser.add_argument("--window", type=int, default=100)
    parser.add_argument("--seed", type=int, default=7)
    args = parser.parse_args()
    from sklearn.model_selection import train_test_split

    dataset = penguins()
    frame = dataset.frame
    train_rows, _ = train_test_split(
        np.arange(len(dataset.labels)), test_size=0.2, stratify=dataset.labels, random_state=42
    )
    fixed = reference_of(dataset, train_rows, frame)
    train = columns_of(frame.iloc[train_rows].reset_index(drop=True))
    labels = dataset.labels[train_rows]
    islands = np.array(train["island"], dtype=object)
    torgersen = np.where(islands == "Torgersen", 3.0, 1.0)

    numeric = [c.name for c in dataset.schema.columns if c.type == "double"]
    spread = {name: float(np.nanstd(frame[name].to_numpy(dtype=float))) for name in numeric}

    def population(rng: np.random.Generator, n: int) -> tuple[Any, np.ndarray]:
        pick = rng.choice(len(dataset.labels), size=n, replace=True)
        sample = frame.iloc[pick].reset_index(drop=True).copy()
        for name in numeric:
            sample[name] = sample[name] + rng.normal(0, 0.02 * spread[name], n)
        return sample, dataset.labels[pick]

    def population_reference(rng: np.random.Generator) -> TypedReference:
        sample, sample_labels = population(rng, len(train_rows))
        stats = reference_statistics(dataset, sample, sample_labels)
        stats["predicted_class_shares"] = {"v1": stats["class_shares"]}
        return TypedReference.from_training_stats(stats)

    def population_window(rng: np.random.Generator) -> tuple[dict[str, list[Any]], np.ndarray]:
        sample, sample_labels = population(rng, args.window)
        return columns_of(sample), sample_labels

    def emptied(name: str) -> Draw:
        draw = resampler(train, labels, args.window, None)

        def apply(rng: np.random.Generator) -> tuple[dict[str, list[Any]], np.ndarray]:
            values, picked = draw(rng)
            return {**values, name: [None] * len(picked)}, picked

        return apply

    scenarios: dict[str, tuple[Callable[[np.random.Generator], TypedReference], Draw, int]] = {
        "drift-free, resampled from training": (
            lambda _: fixed, resampler(train, labels, args.window, None), args.trials),
        "drift-free, independent population draws": (
            population_reference, population_window, max(args.trials // 4, 100)),
        "island shift (Torgersen x3)": (
            lambda _: fixed, resampler(train, labels, args.window, torgersen), args.trials // 4),
        "sex arrives empty": (lambda _: fixed, emptied("sex"), args.trials // 4),
        "bill_length_mm arrives empty": (
            lambda _: fixed, emptied("bill_length_mm"), args.trials // 4),
    }  # fmt: skip
    print(
        f"penguins: {len(train_rows)} training rows, window {args.window}, threshold {THRESHOLD}"
        f" (family-wise alpha {TYPED_ALPHA:.4f}, Holm over every test)"
    )
    print(f"{'scenario':<44}{'trials':>7}{'alarm rate':>12}{'seconds':>9}  raised by")
    for name, (reference_for, draw, trials) in scenarios.items():
        started = time.perf_counter()
        alarm_rate, by_test = rate(reference_for, draw, trials, args.seed)
        top = ", ".join(f"{k} {v}" for k, v in sorted(by_test.items(), key=lambda kv: -kv[1])[:3])
        print(
            f"{name:<44}{trials:>7}{alarm_rate:>12.2%}{time.perf_counter() - started:>9.1f}  {top}"
        )


if __name__ == "__main__":
    main()
