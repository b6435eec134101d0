"""The A/B experiment: traffic, accuracy, the verdict; feedback, (for admins) weights; retraining
from production labels: queue a run, the recent runs and the newest candidate's holdout comparison;
and the progressive rollout: the running one with its evidence and audit trail, start and abort."""

from __future__ import annotations

import time
from typing import Any

import pandas as pd
import streamlit as st

from mlops_pipeline.ui import retrain as rt
from mlops_pipeline.ui import rollout as ro
from mlops_pipeline.ui.client import UiError
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


def admin_token(key: str | None = None) -> str | None:
    """With an admin token in this UI's settings a form acts with it (None); otherwise a person
    types one, which is sent with that request only and never put in the page."""
    if client.has_admin_token:
        return None
    return st.text_input("Admin token", type="password", key=key)


st.subheader("Traffic weights (admin)")
with st.form("weights"):
    typed = admin_token()
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

st.subheader("Retrain from production labels")
# A queued run reruns the page so that the table shows it; its message waits here.
queued = st.session_state.pop("retrain_notice", None)
if queued:
    st.success(queued)
runs: list[dict[str, Any]] | None
try:
    runs = client.retrains(20)
except UiError as exc:  # an API down meanwhile, older than retraining, or without a log
    st.warning(rt.unavailable_text(exc))
    runs = None
if runs is not None:
    with st.form("retrain_form"):
        retrain_token = admin_token("retrain_token")
        left, right = st.columns(2)
        retrain_version = left.text_input(
            "Version name (empty: the next free vN)", key="retrain_version"
        )
        since_days = right.number_input(
            "Only labels of the last N days (empty: all)",
            min_value=0.01, max_value=3650.0, value=None, step=1.0, key="retrain_since_days",
        )  # fmt: skip
        with_rollout = st.checkbox("Start a rollout when registered", key="retrain_rollout")
        if st.form_submit_button("Queue retraining", key="queue_retrain"):
            body = rt.build_request(retrain_version, since_days, with_rollout)
            try:
                run = client.queue_retrain(body, retrain_token or None)
            except UiError as exc:
                st.error(rt.refusal_text(exc))
            else:
                st.session_state["retrain_notice"] = rt.queued_text(run)
                st.rerun()
    pending = rt.open_run(runs)
    if pending is not None:
        if not queued:
            st.info(f"Run {pending['id']} is **{pending['status']}**: refresh to follow it.")
        st.button("Refresh runs", key="refresh_retrains")  # a click reruns the page
    if runs:
        st.markdown("**Recent runs** (newest first)")
        st.dataframe(pd.DataFrame(rt.run_rows(runs)), hide_index=True)
    else:
        st.info("No retraining run yet.")
    registered = rt.newest_registered(runs)
    if registered is not None:
        st.markdown(rt.registered_text(registered))
        st.dataframe(pd.DataFrame(rt.comparison_rows(registered["result"])), hide_index=True)
        st.markdown(rt.difference_text(registered["result"]["comparison"]))

st.subheader("Rollout")
# A start or an abort reruns the page so that it shows the API's new state; its message waits here.
notice = st.session_state.pop("rollout_notice", None)
if notice:
    st.success(notice)
try:
    current = client.current_rollout()
    latest = None if current is not None else next(iter(client.rollouts(1)), None)
except UiError as exc:
    st.error(str(exc))
    st.stop()  # the last section: nothing below depends on it

if current is not None:
    st.markdown(
        f"**{current['candidate']}** (candidate) against **{current['baseline']}** (baseline):"
        f" state **{current['state']}**, {ro.step_text(current)}."
    )
    st.markdown(f"Weights now: **{ro.weights_text(current.get('weights'))}**")
    st.caption(
        f"Started {ro.when(current['started_at'])} by {current['actor']};"
        f" this step since {ro.when(current['step_started_at'])}."
    )
    labels, done = ro.labels_text(current)
    st.markdown(labels)
    if done is not None:
        st.progress(done)
    evidence = current.get("evidence")
    if evidence:
        action = evidence.get("action", "hold")
        shown = st.warning if action == "rolled_back" else st.info
        shown(f"Decision: **{action}**: {evidence.get('reason', current['reason'])}")
        checks = ro.check_rows(evidence)
        if checks:
            st.dataframe(pd.DataFrame(checks).set_index("check"))
    else:
        st.info(f"No decision yet (the monitor decides on its next tick): {current['reason']}")
    st.markdown("**Audit trail**")
    st.dataframe(pd.DataFrame(ro.event_rows(current["events"])), hide_index=True)
    # The token as the weights form gets it: from this UI's settings, or typed for this request.
    abort_token = admin_token("rollout_abort_token")
    if st.button("Abort rollout", key="abort_rollout"):
        aborted = attempt(lambda: client.abort_rollout(abort_token or None))
        if aborted is not None:
            st.session_state["rollout_notice"] = (
                f"Rollout {aborted['id']} is {aborted['state']}: {aborted['reason']}"
            )
            st.rerun()
else:
    if latest is not None:
        st.info(ro.finished_text(latest))
    else:
        st.info("No rollout is running, and none has run yet.")
    versions = list(require(client.config)["versions"])
    with st.form("start_rollout_form"):
        start_token = admin_token("rollout_start_token")
        left, right = st.columns(2)
        candidate = left.selectbox(
            "Candidate", versions, index=len(versions) - 1, key="rollout_candidate"
        )
        baseline = right.selectbox("Baseline", versions, index=0, key="rollout_baseline")
        steps_text = st.text_input(
            "Steps (the candidate's shares, comma-separated)",
            ro.DEFAULT_STEPS_TEXT,
            key="rollout_steps",
        )
        min_labels = st.number_input(
            "Min labels per step", 1, 1_000_000, 200, 10, key="rollout_min_labels"
        )
        first, second, third = st.columns(3)
        max_error_rate = first.number_input(
            "Max error rate", 0.0, 1.0, 0.01, 0.005, format="%.3f", key="rollout_max_error_rate"
        )
        max_p99_ms = second.number_input(
            "Max p99 ms", 0.001, 600_000.0, 50.0, 5.0, key="rollout_max_p99_ms"
        )
        max_accuracy_drop = third.number_input(
            "Max accuracy drop", 0.0, 1.0, 0.02, 0.005, format="%.3f", key="rollout_max_drop"
        )
        policy = st.selectbox("Policy", ro.POLICIES, key="rollout_policy")
        if st.form_submit_button("Start rollout", key="start_rollout"):

            def start() -> dict[str, Any]:
                plan = ro.build_plan(
                    str(candidate), str(baseline), steps_text, int(min_labels),
                    max_error_rate, max_p99_ms, max_accuracy_drop, str(policy),
                )  # fmt: skip
                return client.start_rollout(plan, start_token or None)

            started = attempt(start)
            if started is not None:
                st.session_state["rollout_notice"] = (
                    f"Rollout {started['id']} started: {started['reason']}"
                )
                st.rerun()
