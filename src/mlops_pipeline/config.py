"""Settings (one typed object, ``MLOPS_`` environment prefix) and what is derived from them.

The model-version catalogue and the weights rule live in catalogue.py; their names are
re-exported here so importers of them from config keep working.
"""

from __future__ import annotations

import json
from pathlib import Path
from typing import Literal

from pydantic import Field, SecretStr, field_validator
from pydantic_settings import BaseSettings, SettingsConfigDict

from mlops_pipeline.catalogue import (
    VERSION_NAME,
    ModelVersionSpec,
    VersionCatalogue,
    load_catalogue,
    normalise_weights,
    validate_weights,
    version_name_problem,
)
from mlops_pipeline.credentials import client_keys

__all__ = [
    "VERSION_NAME",
    "ModelVersionSpec",
    "Settings",
    "VersionCatalogue",
    "database_url",
    "load_catalogue",
    "normalise_weights",
    "settings_to_env",
    "validate_weights",
    "version_name_problem",
    "worker_threads",
]


class Settings(BaseSettings):
    """Everything the CLI, the API and the UI can be told; every field reads ``MLOPS_<NAME>``."""

    model_config = SettingsConfigDict(env_prefix="MLOPS_", extra="ignore")

    artifacts_dir: Path = Field(Path("artifacts"), description="Folder written by `mlops train`.")
    db_path: Path = Field(
        Path("data/predictions.db"),
        description="SQLite database file, used when MLOPS_DATABASE_URL is unset.",
    )
    database_url: SecretStr | None = Field(
        None,
        description="sqlite:///path or postgresql://user:password@host:port/db; unset means the"
        " SQLite file at MLOPS_DB_PATH. Secret: it may hold a password.",
    )
    db_durable_commit: bool = Field(
        True,
        description="PostgreSQL: answer a prediction only once its log row is on the server's"
        " disk (synchronous_commit=on; concurrent requests share one commit); false answers"
        " once the commit is in the server's memory (a server crash may lose the last ~0.6 s).",
    )
    db_connect_timeout_seconds: float = Field(
        2.0,
        gt=0,
        le=60,
        description="PostgreSQL: longest wait to connect, for a free pooled connection, and for"
        " the server to acknowledge what was sent; a request to a dead database gets its 503"
        " within it.",
    )
    db_statement_timeout_seconds: float = Field(
        5.0, gt=0, le=3600, description="PostgreSQL: statement_timeout of every connection."
    )
    db_lock_timeout_seconds: float = Field(
        2.0, gt=0, le=3600, description="PostgreSQL: lock_timeout of every connection."
    )
    threads: int | None = Field(
        None,
        ge=1,
        le=64,
        description="Python threads per granian worker; unset: 1 on SQLite, 8 on PostgreSQL"
        " (a request waiting for its durable commit leaves the CPU to the others, and"
        " concurrent requests share one commit).",
    )
    host: str = Field("127.0.0.1", description="Interface the API binds to.")
    port: int = Field(5000, ge=0, le=65535, description="API port.")
    workers: int = Field(2, ge=1, le=64, description="gunicorn worker processes.")
    model_sync_seconds: float = Field(
        2.0,
        gt=0,
        description="How often each replica looks for model versions registered or retired.",
    )
    rollout_interval_seconds: float = Field(
        5.0, gt=0, description="How often the monitor's leader decides on the running rollout."
    )
    grpc_port: int = Field(
        8081,
        ge=0,
        le=65535,
        description="Port of the Open Inference Protocol gRPC service `mlops serve` starts;"
        " 0 switches it off.",
    )
    versions_file: Path | None = Field(
        None, description="Model-version catalogue (TOML); the shipped one when unset."
    )
    ab_weights: dict[str, float] | None = Field(
        None,
        description='Traffic split as JSON, e.g. {"v1": 0.5, "v2": 0.5}; catalogue when unset.',
    )
    router_seed: int | None = Field(
        None,
        description="Seed of the A/B router's random generator (tests); OS entropy when unset.",
    )
    max_batch_rows: int = Field(10_000, ge=1, description="Most rows one batch request may carry.")
    max_body_bytes: int = Field(
        4 * 1024 * 1024, ge=1024, description="Largest request body accepted (413 above)."
    )
    log_predictions: bool = Field(True, description="Append every answered prediction to the log.")
    metrics_dir: Path | None = Field(
        None, description="prometheus_client multiprocess folder; a fresh temporary one when unset."
    )
    prometheus_port: int = Field(
        9090, ge=0, le=65535, description="Port `mlops up` gives Prometheus."
    )
    alertmanager_port: int = Field(
        9093, ge=0, le=65535, description="Port `mlops up` gives Alertmanager (when installed)."
    )
    prometheus_config_dir: Path = Field(
        Path("deploy/prometheus"), description="Folder with prometheus.yml and alerts.yml."
    )
    admin_token: SecretStr | None = Field(
        None,
        description="Bearer token of the admin role (weights, history, the prediction listing);"
        " unset or empty disables those endpoints.",
    )
    feedback_token: SecretStr | None = Field(
        None,
        description="Bearer token of the feedback role (posting labels; the admin token works"
        " too); unset or empty disables POST /feedback for everyone but admins.",
    )
    predict_tokens: SecretStr | None = Field(
        None,
        description="Named prediction keys 'name:token,name:token': when set, /predict, V2 infer"
        " and gRPC ModelInfer need 'Authorization: Bearer <token>' and each logged row records"
        " the key's name; unset or empty lets anyone predict (the client is then"
        " 'anonymous:<user id or hashed address>').",
    )
    ui_predict_token: SecretStr | None = Field(
        None,
        description="The prediction key (one token of MLOPS_PREDICT_TOKENS) the UI presents on"
        " its predictions; unset: the UI predicts anonymously, which keys set on the API refuse.",
    )
    allow_anonymous_pins: bool = Field(
        False,
        description="Whether anyone may pin a version that has no traffic share (V2"
        " /versions/<v>/infer, gRPC model_version); off: only the admin token may.",
    )
    drift_max_client_share: float = Field(
        0.03,
        gt=0,
        le=1,
        description="Largest share of the drift window one client's rows may fill; its older"
        " rows beyond that are left out (1 = no bound).",
    )
    server: Literal["granian", "gunicorn"] = Field(
        "granian",
        description="HTTP server of `mlops serve`: granian (async front, keep-alive, slow"
        " clients cost no worker) or gunicorn (sync workers; put a buffering proxy in front).",
    )
    access_log: bool = Field(True, description="One JSON line per request on stderr.")
    weights_sync_seconds: float = Field(
        1.0, gt=0, description="How often each worker adopts weights changed by another."
    )
    shadow_version: str | None = Field(
        None, description="Version that scores every request in the background (off when unset)."
    )
    api_url: str = Field(
        "http://127.0.0.1:5000", description="Where the UI and `mlops smoke` reach the API."
    )
    prometheus_url: str = Field(
        "http://127.0.0.1:9090", description="Prometheus server the UI queries."
    )
    ui_port: int = Field(8501, ge=0, le=65535, description="Streamlit UI port.")
    model_name: str = Field("iris", description="Model name in Open Inference Protocol (V2) paths.")
    drift_window: int = Field(100, ge=2, description="Newest predicted rows drift compares.")
    drift_min_window: int = Field(
        30, ge=2, description="Below this many rows drift reports warming_up."
    )
    drift_threshold: float = Field(
        0.4, ge=0, le=1, description="Drift score at or above which drift is declared."
    )
    log_retention_days: float = Field(
        30.0, gt=0, description="Prediction log rows, labels and rejections older are deleted."
    )
    log_max_rows: int = Field(
        10_000_000, ge=1, description="Most answered requests the prediction log keeps."
    )
    log_alert_bytes: int = Field(
        1024**3, ge=1, description="Database size above which PredictionLogNearlyFull fires."
    )
    log_prune_interval_seconds: float = Field(
        60.0, gt=0, description="How often `mlops monitor` prunes the log."
    )
    log_prune_chunk_rows: int = Field(
        1_000,
        ge=1,
        le=10_000,
        description="Most rows one delete transaction removes, so writers wait only briefly"
        " (at most 10,000: each id is one bound parameter).",
    )
    experiment_interval_seconds: float = Field(
        30.0,
        gt=0,
        description="How often `mlops monitor` recomputes the experiment report (it scans the"
        " log and labels arrive slowly).",
    )
    report_max_age_seconds: float = Field(
        90.0,
        gt=0,
        description="Replicas serve the monitor's stored drift and experiment reports while"
        " younger than this; past it (no monitor running) they compute their own.",
    )
    monitor_port: int = Field(
        9100, ge=0, le=65535, description="Port of `mlops monitor`'s /metrics and /health."
    )
    drift_interval_seconds: float = Field(
        5.0, ge=0, description="Seconds between drift recomputations; 0 computes on request only."
    )
    retrain_min_labels: int = Field(
        200,
        ge=10,
        description="Fewest labelled routed predictions (after removing duplicates) a retrain"
        " uses; with fewer it refuses.",
    )
    retrain_holdout_fraction: float = Field(
        0.2,
        gt=0,
        lt=1,
        description="Share of the most recent labelled rows held out to compare the champion"
        " and the retrained candidate.",
    )
    retrain_max_rows: int = Field(
        200_000, ge=10, description="Most labelled production rows one retrain reads (newest)."
    )
    retrain_on_drift: Literal["off", "register", "rollout"] = Field(
        "off",
        description="What a DriftDetected alert posted to the monitor's /alerts webhook does:"
        " off; register a retrained candidate (weight 0); or register it and start a rollout."
        " Needs MLOPS_RETRAIN_WEBHOOK_TOKEN.",
    )
    retrain_webhook_token: SecretStr | None = Field(
        None,
        description="Bearer token Alertmanager sends to the monitor's /alerts webhook; unset or"
        " empty disables the webhook (retrain on drift stays off).",
    )
    retrain_min_interval_seconds: float = Field(
        21_600.0,
        ge=0,
        description="Fewest seconds between two retrains an alert starts (rate limit; a person"
        " can always start one).",
    )
    inference_timeout_ms: float = Field(
        2000.0,
        gt=0,
        description="Time budget of one model run; a run past it is stopped and answered 504"
        " inference_timeout.",
    )
    model_max_bytes: int = Field(
        50 * 1024 * 1024, ge=1, description="Largest model.onnx `mlops models register` accepts."
    )
    model_metadata_max_bytes: int = Field(
        64 * 1024,
        ge=1,
        description="Largest metadata.json (as JSON) registration accepts; GET /models serves it.",
    )
    model_extra_ops: str = Field(
        "",
        description="ONNX operators registration accepts beyond the built-in allow-list, comma"
        " separated: 'Op' (ai.onnx) or 'domain:Op', e.g. 'ai.onnx.ml:SVMClassifier'.",
    )

    @field_validator(
        "admin_token",
        "feedback_token",
        "retrain_webhook_token",
        "predict_tokens",
        "ui_predict_token",
        mode="before",
    )
    @classmethod
    def _empty_token_is_unset(cls, value: object) -> object:
        # Compose's ${VAR:-} hands over an empty string: that must disable a role, never open it.
        if isinstance(value, str) and value == "":
            return None
        if isinstance(value, SecretStr) and value.get_secret_value() == "":
            return None
        return value

    @field_validator("predict_tokens")
    @classmethod
    def _client_keys_parse(cls, value: SecretStr | None) -> SecretStr | None:
        if value is not None:
            client_keys(value)
        return value

    @field_validator("ab_weights")
    @classmethod
    def _weights_are_valid(cls, value: dict[str, float] | None) -> dict[str, float] | None:
        if value is not None:
            validate_weights(value)
        return value


POSTGRES_THREADS = 8  # 2 and 4 measured no better with two replicas on 2 cores (README)


def worker_threads(settings: Settings) -> int:
    """Threads per worker: more only where requests wait on a remote commit (PostgreSQL)."""
    if settings.threads is not None:
        return settings.threads
    return POSTGRES_THREADS if database_url(settings).startswith("postgres") else 1


def database_url(settings: Settings) -> str:
    """The database every store uses: MLOPS_DATABASE_URL, else the SQLite file MLOPS_DB_PATH."""
    if settings.database_url is not None and settings.database_url.get_secret_value():
        return settings.database_url.get_secret_value()
    return f"sqlite:///{settings.db_path}"


def settings_to_env(settings: Settings) -> dict[str, str]:
    """``MLOPS_*`` variables that rebuild ``settings`` in a child process (gunicorn, Streamlit)."""
    env: dict[str, str] = {}
    for name, value in settings.model_dump().items():
        if value is None:
            continue
        if isinstance(value, SecretStr):
            value = value.get_secret_value()
        elif isinstance(value, dict):
            value = json.dumps(value)
        elif isinstance(value, bool):
            value = "true" if value else "false"
        env[f"MLOPS_{name.upper()}"] = str(value)
    return env
