"""Streamlit entry point: `mlops ui` runs `streamlit run` on this file."""

from pathlib import Path

import streamlit as st

PAGES = Path(__file__).parent / "pages"

st.set_page_config(page_title="mlops-pipeline", layout="wide")
st.navigation(
    [
        st.Page(PAGES / "predict.py", title="Predict", default=True),
        st.Page(PAGES / "batch.py", title="Batch"),
        st.Page(PAGES / "experiment.py", title="Experiment"),
        st.Page(PAGES / "monitoring.py", title="Monitoring"),
    ]
).run()
