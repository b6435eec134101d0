"""What the Experiment page's retraining section computes: the request from the form, and the
rows and sentences it shows for the runs the API lists (POST /retrains, GET /retrains)."""

from __future__ import annotations

from typing import Any

from mlops_pipeline.ui.client import UiError
from mlops_pipeline.ui.rollout import when

OPEN = ("queued", "running")


def build_request(version: str, since_days: float | None, rollout: bool) -> dict[str, Any]:
    """The JSON body `POST /retrains` takes; an empty name or no days leave the API's default
    (the next free vN, every label). The API checks the name and the days."""
    body: dict[str, Any] = {"rollout": bool(rollout)}
    if version.strip():
        body["version"] = version.strip()
    if since_days is not None:
        body["since_days"] = float(since_days)
    return body


def refusal_text(exc: UiError) -> str:
    """Why the API did not queue the run, in words a person acts on, with the API's own text."""
    if exc.status == 409:
        return (
            "A retraining run is already queued or running: wait until it ends (the table"
            f" below shows it), then ask again. {exc}"
        )
    if exc.status in (401, 403):
        return f"The admin token is wrong or missing, so nothing was queued. {exc}"
    return str(exc)


def unavailable_text(exc: UiError) -> str:
    """The warning when the runs cannot be listed (an older API, no prediction log, ...)."""
    if exc.status in (404, 405):
        return (
            "This API offers no retraining (GET /retrains answered"
            f" {exc.status}): it predates it. {exc}"
        )
    return f"Retraining runs cannot be shown: {exc}"


def labels_scope(since_days: float | None) -> str:
    if since_days is None:
        return "every production label"
    return f"labels of the last {since_days:g} day{'' if since_days == 1 else 's'}"


def queued_text(run: dict[str, Any]) -> str:
    """One sentence on a run the API just queued."""
    version = run.get("version") or "the next free name"
    then = "start a rollout" if run.get("rollout") else "leave it at weight 0"
    return (
        f"Retraining run {run['id']} is **{run['status']}**: {version} from"
        f" {labels_scope(run.get('since_days'))}; when registered, {then}. The leading"
        " `mlops monitor` starts it within seconds; the table below shows how it ends."
    )


def run_rows(runs: list[dict[str, Any]]) -> list[dict[str, Any]]:
    """The runs newest first, as the API lists them; who asked only when the API said."""
    shows_actor = any(run.get("actor") for run in runs)
    rows = []
    for run in runs:
        row: dict[str, Any] = {
            "run": run.get("id"),
            "status": run.get("status"),
            "trigger": run.get("trigger"),
            "version": run.get("version") or "-",
            "requested": when(run.get("requested_at")),
            "finished": when(run.get("finished_at")),
            "message": run.get("message") or "",
        }
        if shows_actor:
            row["actor"] = run.get("actor") or "-"
        rows.append(row)
    return rows


def open_run(runs: list[dict[str, Any]]) -> dict[str, Any] | None:
    return next((run for run in runs if run.get("status") in OPEN), None)


def newest_registered(runs: list[dict[str, Any]]) -> dict[str, Any] | None:
    """The newest registered run with a holdout comparison (runs are newest first)."""
    return next(
        (
            run
            for run in runs
            if run.get("status") == "registered"
            and isinstance(run.get("result"), dict)
            and isinstance(run["result"].get("comparison"), dict)
        ),
        None,
    )


def percent(value: float) -> str:
    return f"{value:.1%}"


def signed(value: float) -> str:
    return f"{value:+.1%}"


def comparison_rows(result: dict[str, Any]) -> list[dict[str, Any]]:
    """Champion, then candidate: accuracy on the same holdout rows with its 95% interval."""
    comparison = result["comparison"]
    rows = []
    for role, name in (("champion", result.get("champion")), ("candidate", result.get("version"))):
        score = comparison[role]
        rows.append(
            {
                "model": name or "-",
                "role": role,
                "accuracy": percent(score["accuracy"]),
                "95% interval": f"{percent(score['low'])} to {percent(score['high'])}",
                "holdout rows": score["rows"],
            }
        )
    return rows


def registered_text(run: dict[str, Any]) -> str:
    """Which candidate, against which champion, and whether a rollout started."""
    result = run["result"]
    rollout_id = result.get("rollout_id")
    rollout = f"rollout {rollout_id} started" if rollout_id else "no rollout (it stays at weight 0)"
    return (
        f"Newest registered candidate: **{result.get('version', run.get('version'))}** (run"
        f" {run['id']}, finished {when(run.get('finished_at'))}) against the champion"
        f" **{result.get('champion', '-')}**; {rollout}."
    )


def difference_text(comparison: dict[str, Any]) -> str:
    """The paired difference (candidate minus champion) with its interval and the verdict."""
    return (
        f"Accuracy difference (candidate minus champion): {signed(comparison['difference'])}"
        f" (95% {signed(comparison['difference_low'])} to"
        f" {signed(comparison['difference_high'])}): **{comparison['verdict']}**"
    )
