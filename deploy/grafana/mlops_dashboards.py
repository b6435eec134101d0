"""The four Grafana dashboards of the stack, as grafana-foundation-sdk builders.

Every query reads a metric of ``mlops_pipeline.monitoring.metrics`` (or Prometheus's own ``up``
and ``ALERTS``). tests/e2e/test_grafana.py runs each one against a real Prometheus scraping a real
``mlops serve`` + ``mlops monitor``; a query that returns nothing there fails the test.
"""

from __future__ import annotations

from grafana_foundation_sdk.builders import dashboard as board
from grafana_foundation_sdk.builders import prometheus, stat, table, timeseries
from grafana_foundation_sdk.cog.builder import Builder
from grafana_foundation_sdk.cog.variants import Dataquery
from grafana_foundation_sdk.models import dashboard as model
from grafana_foundation_sdk.models.prometheus import PromQueryFormat

DATASOURCE_UID = "mlops-prometheus"  # deploy/grafana/provisioning/datasources/prometheus.yml
DATASOURCE = model.DataSourceRef(type_val="prometheus", uid=DATASOURCE_UID)
RATE = "$__rate_interval"
VERSION = 'model_version=~"$version"'
GRPC = 'endpoint=~"/inference.GRPCInferenceService/.*"'  # the V2 gRPC methods
REST = GRPC.replace("=~", "!~")
# Several monitors may run; only the elected leader's drift and log gauges are current (a
# standby keeps the values it had, or exports 0), so those panels read the leader's series.
LEADER = "and on (instance) (mlops_monitor_leader == 1)"


def query(expr: str, legend: str = "", ref: str = "A") -> prometheus.Dataquery:
    return (
        prometheus.Dataquery()
        .expr(expr)
        .legend_format(legend or "__auto")
        .ref_id(ref)
        .datasource(DATASOURCE)
    )


def queries(*pairs: tuple[str, str]) -> list[Builder[Dataquery]]:
    """Targets A, B, ... from (expr, legend) pairs."""
    targets: list[Builder[Dataquery]] = []
    for index, (expr, legend) in enumerate(pairs):
        targets.append(query(expr, legend, chr(ord("A") + index)))
    return targets


def quantiles(bucket: str, by: str, selector: str) -> tuple[tuple[str, str], ...]:
    """p50 and p99 of a histogram, per ``by``."""
    series = f"{bucket}{{{selector}}}" if selector else bucket
    return tuple(
        (
            f"histogram_quantile({q}, sum by (le, {by}) (rate({series}[{RATE}])))",
            f"p{round(q * 100)} {{{{{by}}}}}",
        )
        for q in (0.5, 0.99)
    )


def graph(title: str, unit: str, *pairs: tuple[str, str], width: int = 12) -> timeseries.Panel:
    return (
        timeseries.Panel()
        .title(title)
        .datasource(DATASOURCE)
        .targets(queries(*pairs))
        .unit(unit)
        .span(width)
        .height(8)
    )


def single(title: str, expr: str, unit: str = "none", width: int = 6) -> stat.Panel:
    return (
        stat.Panel()
        .title(title)
        .datasource(DATASOURCE)
        .targets(queries((expr, "")))
        .unit(unit)
        .span(width)
        .height(5)
    )


def versions_variable() -> board.QueryVariable:
    """$version: every served version; "All" is sent as .* (a regex matcher reads it)."""
    return (
        board.QueryVariable("version")
        .label("Model version")
        .datasource(DATASOURCE)
        .query("label_values(mlops_model_info, model_version)")
        .refresh(model.VariableRefresh.ON_TIME_RANGE_CHANGED)
        .sort(model.VariableSort.ALPHABETICAL_ASC)
        .multi(True)
        .include_all(True)
        .all_value(".*")
        .current(model.VariableOption(selected=True, text="All", value="$__all"))
    )


def dashboard(uid: str, title: str, description: str) -> board.Dashboard:
    return (
        board.Dashboard(title)
        .uid(uid)
        .description(description)
        .tags(["mlops"])
        .time("now-1h", "now")
        .refresh("30s")
        .timezone("browser")
        .tooltip(model.DashboardCursorSync.CROSSHAIR)
    )


def serving() -> board.Dashboard:
    return (
        dashboard("mlops-serving", "MLOps / Serving", "mlops serve: traffic, latency, errors.")
        .with_variable(versions_variable())
        .with_row(board.Row("Traffic"))
        .with_panel(graph("Requests by endpoint", "reqps",
            (f"sum by (endpoint) (rate(mlops_requests_total[{RATE}]))", "{{endpoint}}")))
        .with_panel(graph("gRPC beside REST", "reqps",
            (f"sum(rate(mlops_requests_total{{{REST}}}[{RATE}]))", "REST"),
            (f"sum by (endpoint) (rate(mlops_requests_total{{{GRPC}}}[{RATE}]))",
             "gRPC {{endpoint}}")))
        .with_panel(graph("Traffic share against weights", "percentunit",
            (f"sum by (model_version) (rate(mlops_predictions_total{{{VERSION}}}[{RATE}]))"
             f" / ignoring (model_version) group_left sum(rate(mlops_predictions_total[{RATE}]))",
             "{{model_version}} share"),
            (f"max by (model_version) (mlops_ab_weight{{{VERSION}}})", "{{model_version}} weight")))
        .with_panel(graph("Responses by status", "reqps",
            (f"sum by (status) (rate(mlops_requests_total[{RATE}]))", "{{status}}")))
        .with_row(board.Row("Latency"))
        .with_panel(graph("Request latency by endpoint (p50, p99)", "s",
            *quantiles("mlops_request_latency_seconds_bucket", "endpoint", "")))
        .with_panel(graph("Model latency by version (p50, p99)", "s",
            *quantiles("mlops_inference_latency_seconds_bucket", "model_version", VERSION)))
        .with_row(board.Row("Errors"))
        .with_panel(graph("Errors by code", "reqps",
            (f"sum by (code) (rate(mlops_errors_total[{RATE}]))", "{{code}}")))
        .with_panel(graph("Model failures by version and reason", "reqps",
            ("sum by (model_version, reason)"
             f" (rate(mlops_model_failures_total{{{VERSION}}}[{RATE}]))",
             "{{model_version}} {{reason}}")))
    )  # fmt: skip


def experiment() -> board.Dashboard:
    return (
        dashboard("mlops-experiment", "MLOps / Experiment and rollouts",
                  "The A/B experiment's evidence and the rollout controller's decisions.")
        .with_variable(versions_variable())
        .with_row(board.Row("Experiment"))
        .with_panel(graph("Labelled accuracy per version", "percentunit",
            (f"max by (model_version) (mlops_model_accuracy{{{VERSION}}})", "{{model_version}}")))
        .with_panel(graph("Labels received", "cps",
            (f"sum by (model_version, correct) (rate(mlops_feedback_total{{{VERSION}}}[{RATE}]))",
             "{{model_version}} correct={{correct}}")))
        .with_panel(single("Sample ratio mismatch (1: traffic departs from weights)",
                           "max(mlops_sample_ratio_mismatch)"))
        .with_panel(single("Replicas serving another split", "max(mlops_weights_disagreement)"))
        .with_row(board.Row("Rollouts"))
        .with_panel(single("Rollout state", "max by (state) (mlops_rollout_state) == 1"))
        .with_panel(single("Rollout step", "max(mlops_rollout_step)"))
        .with_panel(graph("Rollout transitions", "short",
            ("sum by (event) (increase(mlops_rollout_transitions_total[$__range]))", "{{event}}"),
            width=12))
        .with_panel(graph("Weights", "percentunit",
            (f"max by (model_version) (mlops_ab_weight{{{VERSION}}})", "{{model_version}}"),
            width=24))
    )  # fmt: skip


def drift() -> board.Dashboard:
    return (
        dashboard("mlops-drift", "MLOps / Drift", "The monitor leader's drift report over time.")
        .with_panel(graph("Drift score (alert at the threshold, 0.4 by default)", "percentunit",
            (f"max(mlops_drift_score {LEADER})", "score")))
        .with_panel(graph("Drift detected and the DriftDetected alert", "short",
            (f"max(mlops_drift_detected {LEADER})", "drift detected"),
            ('max by (alertstate) (ALERTS{alertname="DriftDetected"})', "alert {{alertstate}}")))
        .with_panel(graph("Per-feature p-values (Holm-adjusted)", "none",
            (f"min by (feature) (mlops_feature_drift_pvalue {LEADER})", "{{feature}}"),
            ("min(mlops_prediction_drift_pvalue " + LEADER + ")", "predicted class")))
        .with_panel(graph("Population stability index per feature", "none",
            (f"max by (feature) (mlops_feature_psi {LEADER})", "{{feature}}")))
        .with_panel(single("Rows in the drift window", f"max(mlops_drift_window_size {LEADER})"))
    )  # fmt: skip


def operations() -> board.Dashboard:
    return (
        dashboard("mlops-operations", "MLOps / Operations",
                  "The prediction log, retention, the monitor's leader, retraining, model sync.")
        .with_row(board.Row("Prediction log"))
        .with_panel(graph("Log rows", "short",
            (f"max(mlops_prediction_log_rows {LEADER})", "rows")))
        .with_panel(graph("Database size against the alert size", "bytes",
            (f"max(mlops_prediction_log_bytes {LEADER})", "in use"),
            ("max(mlops_prediction_log_alert_bytes)", "PredictionLogNearlyFull above")))
        .with_panel(graph("Rows deleted by retention", "short",
            (f"sum by (reason) (increase(mlops_prediction_log_pruned_total[{RATE}]))",
             "{{reason}}")))
        .with_panel(graph("Predictions refused: log write failed", "reqps",
            (f"sum(rate(mlops_prediction_log_failures_total[{RATE}]))", "refused")))
        .with_row(board.Row("Monitor and retraining"))
        .with_panel(graph("Monitor leaders (expect exactly one)", "short",
            ("sum(mlops_monitor_leader)", "leaders")))
        .with_panel(graph("Retrain runs", "short",
            ("sum by (trigger, outcome) (increase(mlops_retrain_runs_total[$__range]))",
             "{{trigger}} {{outcome}}")))
        .with_row(board.Row("Model sync"))
        .with_panel(graph("Versions served per process", "short",
            ("count by (instance) (mlops_model_info)", "{{instance}}"),
            ("max(mlops_weights_disagreement)", "serving another split")))
        .with_panel(
            table.Panel().title("Served versions (a hash differing between processes shows twice)")
            .datasource(DATASOURCE)
            .targets([query("count by (model_version, algorithm, onnx_sha256) (mlops_model_info)")
                      .instant().format(PromQueryFormat.TABLE)])
            .span(12).height(8))
        .with_panel(single("Scrape targets up", "sum(up)", width=12))
    )  # fmt: skip


DASHBOARDS = {
    "serving": serving,
    "experiment": experiment,
    "drift": drift,
    "operations": operations,
}
