"""Prometheus range-query results as a long table and the Vega-Lite line chart drawn from it."""

from __future__ import annotations

import math
from typing import Any

import pandas as pd

# Below this many points in every series, points are drawn too: right after start a series has
# one or two samples, and a line through a single point draws nothing.
FEW_POINTS = 20


def series_frame(series: list[dict[str, Any]]) -> pd.DataFrame:
    """One row per sample (time, series, value); NaN samples (a quantile of no traffic) dropped.

    A series is named by its label values (``v1``, ``/predict``), or ``value`` when unlabelled.
    """
    rows = [
        {
            "time": pd.to_datetime(float(timestamp), unit="s"),
            "series": ",".join(str(v) for v in item["metric"].values()) or "value",
            "value": float(value),
        }
        for item in series
        for timestamp, value in item["values"]
        if math.isfinite(float(value))
    ]
    return pd.DataFrame(rows, columns=["time", "series", "value"])


def line_spec(frame: pd.DataFrame) -> dict[str, Any]:
    """A line per series over time (a legend when there are several); with points while the
    series are short."""
    few = frame.empty or int(frame.groupby("series").size().max()) < FEW_POINTS
    encoding: dict[str, Any] = {
        "x": {"field": "time", "type": "temporal", "title": None},
        "y": {"field": "value", "type": "quantitative", "title": None},
    }
    if frame["series"].nunique() > 1:
        encoding["color"] = {"field": "series", "type": "nominal", "title": None}
    return {"mark": {"type": "line", "point": few, "tooltip": True}, "encoding": encoding}
