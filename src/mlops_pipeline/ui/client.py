"""HTTP clients the UI uses: the prediction API and Prometheus. Errors become UiError messages."""

from __future__ import annotations

import time
from typing import Any

import requests


class UiError(Exception):
    """Something the page shows as a message instead of a traceback.

    ``status`` and ``code`` are the API's HTTP status and error code when it refused a request.
    """

    def __init__(self, message: str, status: int | None = None, code: str | None = None) -> None:
        super().__init__(message)
        self.status = status
        self.code = code


class ApiClient:
    """The prediction API. Tokens come from settings and are sent, never shown."""

    def __init__(
        self,
        base_url: str,
        timeout: float = 10.0,
        admin_token: str | None = None,
        feedback_token: str | None = None,
        predict_token: str | None = None,
    ) -> None:
        self.base_url = base_url.rstrip("/")
        self._timeout = timeout
        self._http = requests.Session()
        self._admin_token = admin_token or None
        self._feedback_token = feedback_token or None
        # Where the API requires prediction keys, the UI presents its own (never shown).
        self._predict_headers = (
            {"Authorization": f"Bearer {predict_token}"} if predict_token else {}
        )

    @property
    def has_admin_token(self) -> bool:
        return self._admin_token is not None

    @property
    def can_label(self) -> bool:
        return self._feedback_token is not None or self._admin_token is not None

    def _call(self, method: str, path: str, **kwargs: Any) -> Any:
        try:
            response = self._http.request(
                method, self.base_url + path, timeout=self._timeout, **kwargs
            )
        except requests.RequestException as exc:
            raise UiError(
                f"The API at {self.base_url} is unreachable ({type(exc).__name__})."
            ) from exc
        try:
            body = response.json()
        except ValueError:
            raise UiError(
                f"The API answered {response.status_code} without JSON.",
                status=response.status_code,
            ) from None
        if response.status_code >= 400:
            code = body.get("code", "error") if isinstance(body, dict) else "error"
            message = body.get("error", response.reason) if isinstance(body, dict) else body
            raise UiError(
                f"The API refused the request ({response.status_code} {code}): {message}",
                status=response.status_code,
                code=str(code),
            )
        return body

    def _admin_headers(self, token: str | None, action: str) -> dict[str, str]:
        """``token`` (typed by a person) or else the configured admin token, as headers."""
        token = token or self._admin_token
        if token is None:
            raise UiError(f"Enter the admin token to {action}.")
        return {"Authorization": f"Bearer {token}", "X-Actor": "ui"}

    def config(self) -> dict[str, Any]:
        body: dict[str, Any] = self._call("GET", "/config")
        return body

    def models(self) -> dict[str, Any]:
        """Each served version's metadata (GET /models), by version name."""
        body = self._call("GET", "/models")
        if not isinstance(body, dict):
            raise UiError("The API answered GET /models without an object of versions.")
        return body

    def served_schema(self) -> dict[str, Any] | None:
        """The feature schema the served versions share (``columns``, ``task``), or None when
        their metadata has none (a bundle from before typed schemas)."""
        for metadata in self.models().values():
            schema = metadata.get("schema") if isinstance(metadata, dict) else None
            if isinstance(schema, dict) and isinstance(schema.get("columns"), list):
                return schema
        return None

    def predict(
        self, features: list[float] | dict[str, Any], user_id: str | None = None
    ) -> dict[str, Any]:
        """One row: a list of numbers (positional) or an object by column name."""
        payload: dict[str, Any] = {"features": features}
        if user_id:
            payload["user_id"] = user_id
        body: dict[str, Any] = self._call(
            "POST", "/predict", json=payload, headers=self._predict_headers
        )
        return body

    def predict_batch(self, rows: list[list[float]] | list[dict[str, Any]]) -> dict[str, Any]:
        body: dict[str, Any] = self._call(
            "POST", "/predict", json={"instances": rows}, headers=self._predict_headers
        )
        return body

    def feedback(self, request_id: str, true_label: int | str) -> dict[str, Any]:
        token = self._feedback_token or self._admin_token
        if token is None:
            raise UiError("Labels are disabled here: this UI has no MLOPS_FEEDBACK_TOKEN.")
        body: dict[str, Any] = self._call(
            "POST",
            "/feedback",
            json={"request_id": request_id, "true_label": true_label},
            headers={"Authorization": f"Bearer {token}"},
        )
        return body

    def experiment(self) -> dict[str, Any]:
        body: dict[str, Any] = self._call("GET", "/experiment")
        return body

    def drift(self) -> dict[str, Any]:
        body: dict[str, Any] = self._call("GET", "/drift")
        return body

    def change_weights(self, weights: dict[str, float], token: str | None = None) -> dict[str, Any]:
        """With ``token`` (typed by a person) or else the configured admin token."""
        body: dict[str, Any] = self._call(
            "PUT",
            "/config/weights",
            json=weights,
            headers=self._admin_headers(token, "change weights"),
        )
        return body

    def current_rollout(self) -> dict[str, Any] | None:
        """The running rollout, or None when none runs."""
        try:
            body: dict[str, Any] = self._call("GET", "/rollouts/current")
        except UiError as exc:
            if exc.code == "no_rollout":
                return None
            raise
        return body

    def rollouts(self, limit: int = 20) -> list[dict[str, Any]]:
        """Rollouts newest first, finished ones too."""
        body: dict[str, Any] = self._call("GET", "/rollouts", params={"limit": limit})
        rollouts: list[dict[str, Any]] = body["rollouts"]
        return rollouts

    def start_rollout(self, plan: dict[str, Any], token: str | None = None) -> dict[str, Any]:
        """Start a rollout of ``plan``; ``token`` as for :meth:`change_weights`."""
        body: dict[str, Any] = self._call(
            "POST", "/rollouts", json=plan, headers=self._admin_headers(token, "start a rollout")
        )
        return body

    def abort_rollout(self, token: str | None = None) -> dict[str, Any]:
        """Abort the running rollout (its weights are restored); ``token`` as for weights."""
        body: dict[str, Any] = self._call(
            "POST",
            "/rollouts/current/abort",
            headers=self._admin_headers(token, "abort the rollout"),
        )
        return body

    def retrains(self, limit: int = 20) -> list[dict[str, Any]]:
        """Retraining runs newest first; who asked for each only with the configured admin token."""
        headers = {"Authorization": f"Bearer {self._admin_token}"} if self._admin_token else {}
        body = self._call("GET", "/retrains", params={"limit": limit}, headers=headers)
        runs = body.get("retrains") if isinstance(body, dict) else None
        if not isinstance(runs, list):
            raise UiError("The API answered GET /retrains without a list of runs.")
        return runs

    def queue_retrain(self, request: dict[str, Any], token: str | None = None) -> dict[str, Any]:
        """Queue a retraining run (the monitor runs it); ``token`` as for :meth:`change_weights`."""
        body: dict[str, Any] = self._call(
            "POST",
            "/retrains",
            json=request,
            headers=self._admin_headers(token, "queue a retraining run"),
        )
        return body


class PrometheusClient:
    def __init__(self, base_url: str, timeout: float = 5.0) -> None:
        self.base_url = base_url.rstrip("/")
        self._timeout = timeout

    def range_query(
        self, promql: str, minutes: int = 30, step: str = "15s"
    ) -> list[dict[str, Any]]:
        now = time.time()
        params: dict[str, str | float] = {
            "query": promql,
            "start": now - minutes * 60,
            "end": now,
            "step": step,
        }
        try:
            response = requests.get(
                self.base_url + "/api/v1/query_range",
                params=params,
                timeout=self._timeout,
            )
            body = response.json()
        except (requests.RequestException, ValueError) as exc:
            raise UiError(
                f"Prometheus at {self.base_url} is unreachable ({type(exc).__name__})."
            ) from exc
        if body.get("status") != "success":
            raise UiError(f"Prometheus refused the query: {body.get('error', body)}")
        result: list[dict[str, Any]] = body["data"]["result"]
        return result

    def alerts(self) -> list[dict[str, Any]]:
        """The alerts Prometheus evaluates as pending or firing (GET /api/v1/alerts).

        Each has ``labels`` (``alertname``, ``severity``), ``annotations`` (``summary``,
        ``description``), ``state`` ("pending" or "firing") and ``activeAt``.
        """
        try:
            response = requests.get(self.base_url + "/api/v1/alerts", timeout=self._timeout)
            body = response.json()
        except (requests.RequestException, ValueError) as exc:
            raise UiError(
                f"Prometheus at {self.base_url} is unreachable ({type(exc).__name__})."
            ) from exc
        if not isinstance(body, dict) or body.get("status") != "success":
            error = body.get("error", body) if isinstance(body, dict) else body
            raise UiError(f"Prometheus refused the alerts request: {error}")
        alerts: list[dict[str, Any]] = body["data"]["alerts"]
        return alerts
