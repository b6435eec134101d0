"""Drift per schema column (``/drift``'s ``columns`` for a typed schema) as tables and charts.

Every column: its type, the test that decided, p-value, drift, and the missing-value rate in the
window against training. String (and boolean) columns also: each category's share in the window
against its share in training, as a pair of bars per category; a category never seen in training
appears with no training bar.
"""

from __future__ import annotations

from typing import Any

import pandas as pd

WINDOW, TRAINING = "window", "training"
SOURCES = [TRAINING, WINDOW]


def column_table(columns: dict[str, dict[str, Any]]) -> pd.DataFrame:
    """One row per column, in the report's (the schema's) order."""
    rows = [
        {
            "column": name,
            "type": item.get("type", ""),
            "test": item.get("test", ""),
            "p_value": item.get("p_value"),
            "drift": bool(item.get("drift", False)),
            "missing": item.get("missing_share"),
            "missing in training": item.get("reference_missing_share"),
            "unseen": item.get("unseen_share"),
        }
        for name, item in columns.items()
    ]
    names = ["column", "type", "test", "p_value", "drift", "missing", "missing in training"]
    return pd.DataFrame(rows, columns=[*names, "unseen"])


def categorical_columns(columns: dict[str, dict[str, Any]]) -> list[str]:
    """The columns with category shares (strings, booleans)."""
    return [
        name
        for name, item in columns.items()
        if isinstance(item.get("shares"), dict) or isinstance(item.get("reference_shares"), dict)
    ]


def share_frame(item: dict[str, Any]) -> pd.DataFrame:
    """Long rows (category, source, share): training's categories first, then unseen ones."""
    training: dict[str, float] = item.get("reference_shares") or {}
    window: dict[str, float] = item.get("shares") or {}
    categories = [*training, *(c for c in window if c not in training)]
    rows = [
        {"category": category, "source": source, "share": float(shares[category])}
        for category in categories
        for source, shares in ((TRAINING, training), (WINDOW, window))
        if category in shares
    ]
    return pd.DataFrame(rows, columns=["category", "source", "share"])


def missing_frame(columns: dict[str, dict[str, Any]]) -> pd.DataFrame:
    """Long rows (column, source, share) of missing values, for every column the report has."""
    rows = [
        {"column": name, "source": source, "share": float(item[key])}
        for name, item in columns.items()
        for source, key in ((TRAINING, "reference_missing_share"), (WINDOW, "missing_share"))
        if item.get(key) is not None
    ]
    return pd.DataFrame(rows, columns=["column", "source", "share"])


def paired_bars_spec(group: str, title: str | None = None) -> dict[str, Any]:
    """Vega-Lite: per ``group`` value a training bar beside a window bar (shares as percent)."""
    return {
        "mark": {"type": "bar", "tooltip": True},
        "title": title,
        "encoding": {
            "x": {"field": group, "type": "nominal", "sort": None, "title": None},
            "xOffset": {"field": "source", "sort": SOURCES},
            "y": {
                "field": "share",
                "type": "quantitative",
                "axis": {"format": "%"},
                "title": None,
            },
            "color": {
                "field": "source",
                "type": "nominal",
                "sort": SOURCES,
                "scale": {"domain": SOURCES},
                "title": None,
            },
        },
    }
