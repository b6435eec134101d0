"""Champion and candidate scored on the same holdout rows, with intervals.

Both models predict the same rows, so their difference is a paired one: only the rows where one
is right and the other wrong carry information about it, and its interval is far narrower than
two independent accuracy intervals would suggest.
"""

from __future__ import annotations

import math
from dataclasses import dataclass

import numpy as np
from numpy.typing import NDArray

Z95 = 1.959963984540054


@dataclass(frozen=True)
class Score:
    accuracy: float
    low: float  # Wilson 95% interval
    high: float
    rows: int

    def to_json(self) -> dict[str, object]:
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

    def to_json(self) -> dict[str, object]:
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
    """Accuracies with Wilson intervals; the paired difference with the Agresti-Min interval
    (half a row added to each cell of the 2x2 table of right and wrong), which keeps its
    coverage with few discordant rows where the plain normal interval claims too much."""
    champion_right = champion == truth
    candidate_right = candidate == truth
    rows = len(truth)
    only_champion = float(np.sum(champion_right & ~candidate_right)) + 0.5
    only_candidate = float(np.sum(candidate_right & ~champion_right)) + 0.5
    total = rows + 2
    centre = (only_candidate - only_champion) / total
    variance = only_candidate + only_champion - (only_candidate - only_champion) ** 2 / total
    half = z * math.sqrt(variance) / total
    return Comparison(
        wilson(int(champion_right.sum()), rows, z),
        wilson(int(candidate_right.sum()), rows, z),
        float(candidate_right.mean() - champion_right.mean()),
        max(-1.0, centre - half),
        min(1.0, centre + half),
    )
