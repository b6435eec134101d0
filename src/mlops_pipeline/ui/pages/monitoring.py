"""Monitoring: alerts and charts from Prometheus, drift per feature from the API."""

from __future__ import annotations

from typing import Any

import pandas as pd
import streamlit as st

from mlops_pipeline.ui.charts import line_spec, series_frame
from mlops_pipeline.ui.client import UiError
from mlops_pipeline.ui.common import api, attempt, prometheus
from mlops_pipeline.ui.drift_view import (
    categorical_columns,
    column_table,
    missing_frame,
    paired_bars_spec,
    share_frame,
)

LATENCY = (
    "1000 * histogram_quantile({q},"
    " sum by (le, model_version) (rate(mlops_inference_latency_seconds_bucket[1m])))"
)
QUERIES = {
    "Request rate (req/s)": (
        'sum by (endpoint) (rate(mlops_requests_total{endpoint!="/metrics"}[1m]))'
    ),
    "p50 model latency (ms) by version": LATENCY.format(q=0.5),
    "p99 model latency (ms) by version": LATENCY.format(q=0.99),
    "Errors per second by code": "sum by (code) (rate(mlops_errors_total[1m])) > 0",
    "Drift score": "max(mlops_drift_score)",
}

STATES = {"firing": 0, "pending": 1}
SEVERITIES = {"critical": 0, "warning": 1, "info": 2}


def since(active_at: Any) -> str:
    """``activeAt`` (RFC 3339, nanoseconds) as a UTC time to the second; "" when absent."""
    moment = pd.to_datetime(active_at, utc=True, errors="coerce") if active_at else pd.NaT
    return "" if pd.isna(moment) else f"{moment:%Y-%m-%d %H:%M:%S} UTC"


def alert_table(alerts: list[dict[str, Any]]) -> pd.DataFrame:
    """One row per alert: firing before pending, then critical before warning before the rest."""

    def order(alert: dict[str, Any]) -> tuple[int, int, str, str]:
        labels = alert.get("labels", {})
        return (
            STATES.get(str(alert.get("state")), len(STATES)),
            SEVERITIES.get(str(labels.get("severity")), len(SEVERITIES)),
            str(alert.get("activeAt", "")),
            str(labels.get("alertname", "")),
        )

    rows = [
        {
            "alert": alert.get("labels", {}).get("alertname", ""),
            "severity": alert.get("labels", {}).get("severity", ""),
            "state": alert.get("state", ""),
            "since": since(alert.get("activeAt")),
            "summary": alert.get("annotations", {}).get("summary", ""),
        }
        for alert in sorted(alerts, key=order)
    ]
    return pd.DataFrame(rows, columns=["alert", "severity", "state", "since", "summary"])


st.title("Monitoring")
source = prometheus()

st.subheader("Alerts")
try:
    active = source.alerts()
except UiError as exc:
    st.warning(f"{exc} Its alerts cannot be shown.")
else:
    if active:
        st.dataframe(alert_table(active), hide_index=True)
    else:
        st.success("No alert is firing.")

try:
    for title, promql in QUERIES.items():
        frame = series_frame(source.range_query(promql))
        st.subheader(title)
        if frame.empty:
            st.caption("no data yet")
            continue
        st.vega_lite_chart(frame, line_spec(frame), width="stretch")
except UiError as exc:
    st.warning(f"{exc} Showing what the API itself reports instead.")

st.subheader("Drift by feature")
report = attempt(api().drift)
if report is not None:
    st.write(
        f"status **{report['status']}**, score {report['score']:.3f}"
        f" (threshold {report['threshold']}), window {report['window_size']} rows"
    )
    if "features" in report:
        st.dataframe(pd.DataFrame(report["features"]).T)
    columns = report.get("columns")
    if isinstance(columns, dict) and columns:
        st.dataframe(column_table(columns), hide_index=True, key="drift_columns")
        missing = missing_frame(columns)
        if not missing.empty:
            st.subheader("Missing values: training against the window")
            st.vega_lite_chart(missing, paired_bars_spec("column"), width="stretch")
        shared = categorical_columns(columns)
        if shared:
            st.subheader("Category shares: training against the window")
        for name in shared:
            shares = share_frame(columns[name])
            st.caption(
                f"{name}: {columns[name].get('test', '')} test, drift"
                f" {'yes' if columns[name].get('drift') else 'no'}"
            )
            st.vega_lite_chart(shares, paired_bars_spec("category", name), width="stretch")
