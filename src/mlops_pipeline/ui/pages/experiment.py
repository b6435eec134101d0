"""The A/B experiment: traffic, accuracy, the verdict; feedback and (for admins) weights."""

from __future__ import annotations

import time

import pandas as pd
import streamlit as st

from mlops_pipeline.ui.common import api, attempt, require

st.title("Experiment")
client = api()
report = require(client.experiment)

computed = time.strftime("%H:%M:%S", time.localtime(report["computed_at"]))
source = "the monitor" if report.get("source") == "monitor" else "this API replica"
st.caption(f"Report computed at {computed} by {source}; labels count from the next report.")
decision = report["decision"]
if decision["decision"].startswith("promote"):
    st.success(f"**{decision['decision']}**: {decision['reason']}")
else:
    st.info(f"**{decision['decision']}**: {decision['reason']}")
if report["sample_ratio"]["mismatch"]:
    st.warning(
        "Sample-ratio mismatch: traffic per version departs from the weights"
        f" (p = {report['sample_ratio']['pvalue']:.2g}); the verdict is not trustworthy until"
        " the cause is found."
    )

rows = []
for version, stats in report["versions"].items():
    low, high = stats["accuracy_interval"]
    accuracy = stats["accuracy"]
    rows.append(
        {
            "version": version,
            "weight": stats["weight"],
            "traffic share": round(stats["traffic_share"], 3),
            "served": stats["served"],
            "labelled": stats["labelled"],
            "accuracy": None if accuracy is None else round(accuracy, 3),
            "95% interval": f"{low:.3f} to {high:.3f}" if stats["labelled"] else "no labels",
            "p50 ms": stats["latency_ms_p50"],
            "p99 ms": stats["latency_ms_p99"],
        }
    )
table = pd.DataFrame(rows).set_index("version")
st.dataframe(table)
st.bar_chart(table[["weight", "traffic share"]], stack=False)
for comparison in report["comparisons"]:
    low, high = comparison["difference_interval"]
    st.caption(
        f"{comparison['challenger']} vs {comparison['champion']}: accuracy difference"
        f" {comparison['accuracy_difference']:+.3f} (95% {low:+.3f} to {high:+.3f}),"
        f" always-valid p = {comparison['always_valid_pvalue']:.3g}"
    )

st.subheader("Send feedback")
if not client.can_label:
    st.info("Labels are disabled here: this UI has no MLOPS_FEEDBACK_TOKEN.")
with st.form("feedback"):
    request_id = st.text_input("Request id")
    true_label = st.selectbox("True class", report["classes"])
    if st.form_submit_button("Send label") and request_id.strip():
        result = attempt(lambda: client.feedback(request_id.strip(), true_label))
        if result is not None:
            verdict = "correct" if result["correct"] else "wrong"
            st.success(f"Recorded: {result['model_version']} was {verdict} for {request_id}")

st.subheader("Traffic weights (admin)")
with st.form("weights"):
    # With an admin token in this UI's settings the form acts with it; otherwise a person types
    # one, which is sent with this request only and never put in the page.
    typed = None if client.has_admin_token else st.text_input("Admin token", type="password")
    weights = {
        version: st.number_input(
            version, 0.0, 1.0, float(stats["weight"]), 0.05, key=f"w_{version}"
        )
        for version, stats in report["versions"].items()
    }
    if st.form_submit_button("Change weights"):
        changed = attempt(lambda: client.change_weights(weights, typed or None))
        if changed is not None:
            st.success(f"Weights now {changed['weights']}")
