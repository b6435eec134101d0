"""What every page shares: settings, clients, and showing errors as messages."""

from __future__ import annotations

from collections.abc import Callable
from typing import Any, TypeVar

import streamlit as st
from pydantic import SecretStr

from mlops_pipeline.config import Settings
from mlops_pipeline.ui.client import ApiClient, PrometheusClient, UiError

T = TypeVar("T")


def settings() -> Settings:
    return Settings()


def api() -> ApiClient:
    current = settings()
    return ApiClient(
        current.api_url,
        admin_token=secret(current.admin_token),
        feedback_token=secret(current.feedback_token),
        predict_token=secret(current.ui_predict_token),
    )


def secret(value: SecretStr | None) -> str | None:
    return None if value is None else value.get_secret_value()


def prometheus() -> PrometheusClient:
    return PrometheusClient(settings().prometheus_url)


def attempt(call: Callable[[], T]) -> T | None:
    """Run an API call; on failure show the message on the page and return None."""
    try:
        return call()
    except UiError as exc:
        st.error(str(exc))
        return None


def require(call: Callable[[], T]) -> T:
    """Like ``attempt``, but a page that cannot go on without the answer stops there."""
    result = attempt(call)
    if result is None:
        st.stop()
    assert result is not None  # st.stop() raises; this tells the type checker
    return result


def served_schema(client: ApiClient) -> dict[str, Any] | None:
    """The served feature schema, read once per session (all served versions share it); None
    without one. A failed read is shown as a warning, answered None and tried again next run."""
    cached = st.session_state.get("served_schema")
    if cached is not None and cached[0] == client.base_url:
        schema: dict[str, Any] | None = cached[1]
        return schema
    try:
        schema = client.served_schema()
    except UiError as exc:
        st.warning(f"{exc} The form asks for numbers only.")
        return None
    st.session_state["served_schema"] = (client.base_url, schema)
    return schema
