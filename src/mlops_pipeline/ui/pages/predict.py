"""Predict one flower and keep a history of answers."""

from __future__ import annotations

import pandas as pd
import streamlit as st

from mlops_pipeline.ui.common import api, attempt, require

st.title("Predict")
client = api()
config = require(client.config)

ranges = config.get("feature_ranges", {})
with st.form("predict"):
    columns = st.columns(2)
    values = []
    for index, name in enumerate(config["feature_names"]):
        info = ranges.get(name, {"min": 0.0, "max": 10.0, "mean": 1.0})
        values.append(
            columns[index % 2].number_input(
                name.replace("_", " "),
                value=round(float(info["mean"]), 1),
                step=0.1,
                format="%.1f",
                help=f"training range {info['min']:.1f} to {info['max']:.1f}",
                key=f"feature_{name}",
            )
        )
    user_id = st.text_input("User id (optional: the same id always gets the same version)")
    submitted = st.form_submit_button("Predict")

if submitted:
    answer = attempt(lambda: client.predict([float(v) for v in values], user_id or None))
    if answer is not None:
        st.success(
            f"**{answer['class_name']}** from model **{answer['model_version']}**"
            f" in {answer['latency_ms']:.2f} ms"
        )
        st.caption(f"request id {answer['request_id']}")
        st.bar_chart(
            pd.DataFrame({"probability": answer["probabilities"]}, index=config["class_names"])
        )
        st.session_state.setdefault("history", []).insert(
            0,
            {
                "class": answer["class_name"],
                "version": answer["model_version"],
                "user": user_id or "",
                "latency ms": round(answer["latency_ms"], 3),
                "request id": answer["request_id"],
                **dict(zip(config["feature_names"], values, strict=True)),
            },
        )

if st.session_state.get("history"):
    st.subheader("This session")
    st.dataframe(pd.DataFrame(st.session_state["history"]), hide_index=True)
