"""Predict a CSV in batch requests.

Iris (no schema, or a row of required doubles): one request, numbers only, as before. A typed
schema: cells converted per column (empty cells are null in nullable columns), sent in chunks, and
each refused row shown with its message while the other rows keep their answers.
"""

from __future__ import annotations

from typing import Any

import streamlit as st

from mlops_pipeline.ui.batch import BatchError, parse_batch_csv
from mlops_pipeline.ui.common import api, attempt, require, served_schema
from mlops_pipeline.ui.schema_form import needs_typed_form
from mlops_pipeline.ui.typed_batch import parse_typed_csv, result_frame, send_in_chunks

st.title("Batch")
client = api()
config = require(client.config)
schema = served_schema(client)  # read once per session
typed = schema is not None and needs_typed_form(schema)

names = config["feature_names"]
st.write(f"A CSV with a header naming {', '.join(names)}; other columns are kept in the output.")
if typed:
    st.caption(
        "Empty cells (or NA) are missing values in nullable columns. Rows go in chunks: a row the"
        " API refuses is listed with its reason and the other rows are still predicted."
    )
upload = st.file_uploader("CSV file", type=["csv"])
pasted = st.text_area("or paste CSV text", key="pasted_csv")
text = upload.getvalue().decode("utf-8", errors="replace") if upload is not None else pasted


def show(result: Any, what: str) -> None:
    st.success(what)
    st.dataframe(result, hide_index=True)
    st.bar_chart(result["prediction"].value_counts().rename("rows"))
    st.download_button(
        "Download results (CSV)", result.to_csv(index=False), "predictions.csv", "text/csv"
    )


if text.strip() and st.button("Predict batch"):
    if typed and schema is not None:
        try:
            typed_batch = parse_typed_csv(text, schema)
        except BatchError as exc:
            st.error(str(exc))
            st.stop()
        progress = st.progress(0.0, text=f"Predicting {len(typed_batch.rows)} rows…")
        total = len(typed_batch.rows)
        outcomes = send_in_chunks(
            typed_batch,
            client.predict_batch,
            on_progress=lambda done: progress.progress(
                done / total, text=f"Predicting {total} rows… {done} done"
            ),
        )
        progress.progress(1.0, text="Done")
        result = result_frame(typed_batch, outcomes, config["class_names"])
        failed = result[result["error"] != ""]
        answered = len(result) - len(failed)
        if len(failed):
            st.error(
                f"{len(failed)} of {len(result)} rows were refused; their reasons are below and"
                " in the table's error column."
            )
            refused = failed.assign(row=failed.index + 1)[["row", "error"]]
            st.dataframe(refused, hide_index=True, key="refused_rows")
        versions = ", ".join(sorted({str(v) for v in result["model_version"].dropna()}))
        show(result, f"{answered} rows predicted by {versions or 'no model'}")
    else:
        try:
            batch = parse_batch_csv(text, names)
        except BatchError as exc:
            st.error(str(exc))
            st.stop()
        progress = st.progress(0.0, text=f"Predicting {len(batch.rows)} rows…")
        answer = attempt(lambda: client.predict_batch(batch.rows))
        progress.progress(1.0, text="Done")
        if answer is not None:
            result = batch.frame.assign(
                prediction=answer["class_names"],
                model_version=answer["model_version"],
                **{
                    f"p_{name}": [p[i] for p in answer["probabilities"]]
                    for i, name in enumerate(config["class_names"])
                },
            )
            show(result, f"{len(result)} rows predicted by {answer['model_version']}")
