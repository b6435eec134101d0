"""Monitoring: charts from Prometheus, drift per feature from the API."""

from __future__ import annotations

import pandas as pd
import streamlit as st

from mlops_pipeline.ui.charts import line_spec, series_frame
from mlops_pipeline.ui.client import UiError
from mlops_pipeline.ui.common import api, attempt, prometheus

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

st.title("Monitoring")
source = prometheus()
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
