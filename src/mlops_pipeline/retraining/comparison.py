"""Champion and candidate scored on the same holdout rows, with intervals.

Both models predict the same rows, so their difference is a paired one: its interval comes from
the per-row differences (+1 only the candidate right, -1 only the champion right, 0 both or
neither), far narrower than two independent accuracy intervals would suggest.
"""

from __future__ import annotations

import math
from dataclasses import dataclass
from typing import Any

import numpy as np
from numpy.typing import NDArray

Z95 = 1.959963984540054


@dataclass(frozen=True)
class Score:
    accuracy: float
    low: float  # Wilson 95% interval
    high: float
    rows: int

    def to_json(self) -> dict[str, Any]:
        return {"accuracy": self.accuracy, "low": self.low, "high": self.high, "rows": self.rows}


@dataclass(frozen=True)
class Comparison:
    champion: Score
    candidate: Score
    difference: float  # candidate accuracy - champion accuracy
    difference_low: float  # 95% interval of the paired difference
    difference_high: float

    @property
    def verdict(self) -> str:
        if self.difference_low > 0:
            return "better"
        if self.difference_high < 0:
            return "worse"
        return "not distinguishable"

    def to_json(self) -> dict[str, Any]:
        return {
            "champion": self.champion.to_json(),
            "candidate": self.candidate.to_json(),
            "difference": self.difference,
            "difference_low": self.difference_low,
            "difference_high": self.difference_high,
            "verdict": self.verdict,
        }


def wilson(correct: int, rows: int, z: float = Z95) -> Score:
    if rows <= 0:
        raise ValueError("no rows to score")
    share = correct / rows
    centre = (share + z * z / (2 * rows)) / (1 + z * z / rows)
    spread = math.sqrt(share * (1 - share) / rows + z * z / (4 * rows * rows))
    half = z * spread / (1 + z * z / rows)
    return Score(share, max(0.0, centre - half), min(1.0, centre + half), rows)


def compare(
    truth: NDArray[np.int64],
    champion: NDArray[np.int64],
    candidate: NDArray[np.int64],
    z: float = Z95,
) -> Comparison:
    champion_right = np.asarray(champion == truth, dtype=np.float64)
    candidate_right = np.asarray(candidate == truth, dtype=np.float64)
    rows = len(truth)
    differences = candidate_right - champion_right
    mean = float(differences.mean())
    spread = float(differences.std(ddof=1)) if rows > 1 else 0.0
    half = z * spread / math.sqrt(rows)
    return Comparison(
        wilson(int(champion_right.sum()), rows, z),
        wilson(int(candidate_right.sum()), rows, z),
        mean,
        max(-1.0, mean - half),
        min(1.0, mean + half),
    )
