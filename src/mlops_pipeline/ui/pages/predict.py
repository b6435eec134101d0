"""Predict one row and keep a history of answers.

The form follows the served schema (read once per session from GET /models): Iris, a row of
required doubles, keeps its plain numeric form; a typed model gets number inputs, select boxes of
its categories and a "missing" choice per nullable column, sent by column name.
"""

from __future__ import annotations

from typing import Any

import pandas as pd
import streamlit as st

from mlops_pipeline.ui.common import api, attempt, require, served_schema
from mlops_pipeline.ui.schema_form import needs_typed_form, typed_form_values

st.title("Predict")
client = api()
config = require(client.config)

schema = served_schema(client)  # read once per session
typed = needs_typed_form(schema)

ranges = config.get("feature_ranges", {})
with st.form("predict"):
    row: dict[str, Any] = {}
    values: list[float] = []
    if typed and schema is not None:
        row = typed_form_values(schema, ranges)
    else:
        columns = st.columns(2)
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
        row = dict(zip(config["feature_names"], values, strict=True))
    user_id = st.text_input("User id (optional: the same id always gets the same version)")
    submitted = st.form_submit_button("Predict")

if submitted:
    features: list[float] | dict[str, Any] = row if typed else [float(v) for v in values]
    answer = attempt(lambda: client.predict(features, user_id or None))
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
                **row,  # None where a column was left missing
            },
        )

if st.session_state.get("history"):
    st.subheader("This session")
    st.dataframe(pd.DataFrame(st.session_state["history"]), hide_index=True)
