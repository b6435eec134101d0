"""Predict a CSV of flowers in one batch request."""

from __future__ import annotations

import streamlit as st

from mlops_pipeline.ui.batch import BatchError, parse_batch_csv
from mlops_pipeline.ui.common import api, attempt, require

st.title("Batch")
client = api()
config = require(client.config)

names = config["feature_names"]
st.write(f"A CSV with a header naming {', '.join(names)}; other columns are kept in the output.")
upload = st.file_uploader("CSV file", type=["csv"])
pasted = st.text_area("or paste CSV text", key="pasted_csv")
text = upload.getvalue().decode("utf-8", errors="replace") if upload is not None else pasted

if text.strip() and st.button("Predict batch"):
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
        st.success(f"{len(result)} rows predicted by {answer['model_version']}")
        st.dataframe(result, hide_index=True)
        st.bar_chart(result["prediction"].value_counts().rename("rows"))
        st.download_button(
            "Download results (CSV)", result.to_csv(index=False), "predictions.csv", "text/csv"
        )
