"""benchmarks/serving_penguins.py: each penguins target runs right after its Iris counterpart,
and the verdict is the median of the rounds' back-to-back ratios."""

from __future__ import annotations

import pytest
from benchmarks.serving_penguins import PREDICT, V2, paired_order, print_ratios

IRIS = {
    "mlops serve /predict": ("i/predict", "a.lua"),
    "mlops serve V2 infer": ("i/v2", "b.lua"),
    "bare Flask, gunicorn sync x2": ("g/predict", "a.lua"),
}
PENGUINS = {PREDICT: ("p/predict", "c.lua"), V2: ("p/v2", "d.lua")}


def test_each_penguins_target_follows_its_iris_counterpart() -> None:
    ordered = paired_order(IRIS, PENGUINS)
    assert list(ordered) == [
        "mlops serve /predict", PREDICT, "mlops serve V2 infer", V2,
        "bare Flask, gunicorn sync x2",
    ]  # fmt: skip
    assert ordered[PREDICT] == PENGUINS[PREDICT]
    # Reversed (every other round), the pairs stay back to back.
    names = list(ordered)[::-1]
    assert names.index(PREDICT) + 1 == names.index("mlops serve /predict")


def test_the_verdict_is_the_median_of_the_paired_ratios(
    capsys: pytest.CaptureFixture[str],
) -> None:
    runs = {
        "mlops serve /predict": [2000.0, 1000.0, 2000.0],
        PREDICT: [1700.0, 900.0, 1500.0],  # 0.85, 0.9, 0.75 -> median 0.85
        "mlops serve V2 infer": [1000.0, 1000.0, 1000.0],
        V2: [700.0, 800.0, 900.0],
        "bare Flask, gunicorn sync x2": [1000.0, 1000.0, 1000.0],
    }
    medians = {name: sorted(values)[1] for name, values in runs.items()}
    print_ratios(medians, runs)
    out = capsys.readouterr().out
    assert "0.85x median of rounds [0.85, 0.9, 0.75]" in out
    # Medians 1500 / 2000 unpaired; the verdict reads the paired ratios.
    assert "0.75x ratio of medians (meets the 0.8x bar)" in out
    assert "0.80x median of rounds [0.7, 0.8, 0.9]" in out
