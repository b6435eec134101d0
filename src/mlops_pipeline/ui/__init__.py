"""Streamlit UI: pages that show what the API and Prometheus expose."""
