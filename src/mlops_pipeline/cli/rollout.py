"""`mlops rollout start|status|abort`: the rollout API from a shell.

Talks to the API at MLOPS_API_URL (`--url`) with MLOPS_ADMIN_TOKEN from the environment (never
a flag, so never in a process listing).
"""

from __future__ import annotations

import argparse
import json
from pathlib import Path
from typing import Any

import requests

from mlops_pipeline.cli.common import CliError, settings_from


def add_parser(commands: argparse._SubParsersAction[argparse.ArgumentParser]) -> None:
    rollout = commands.add_parser("rollout", help="start, show or abort a rollout")
    sub = rollout.add_subparsers(dest="rollout_command", required=True)
    start = sub.add_parser("start", help="start a rollout (admin)")
    start.add_argument("--candidate", required=True)
    start.add_argument("--baseline", required=True)
    start.add_argument("--steps", help="comma-separated shares, e.g. 0.05,0.25,0.5,1")
    start.add_argument("--min-labels-per-step", type=int)
    start.add_argument("--policy", choices=["steps", "thompson"])
    start.add_argument("--plan", type=Path, help="JSON file with further plan fields")
    status = sub.add_parser("status", help="the running rollout, or the newest finished one")
    abort = sub.add_parser("abort", help="abort the running rollout (admin)")
    for parser, handler in ((start, run_start), (status, run_status), (abort, run_abort)):
        parser.add_argument("--url", help="API base URL (MLOPS_API_URL)")
        parser.set_defaults(handler=handler)


def _call(args: argparse.Namespace, method: str, path: str, body: Any = None) -> Any:
    settings = settings_from(args, url="api_url")
    headers = {}
    if method != "GET":
        if settings.admin_token is None:
            raise CliError("set MLOPS_ADMIN_TOKEN: starting and aborting rollouts is admin work")
        headers["Authorization"] = f"Bearer {settings.admin_token.get_secret_value()}"
    try:
        response = requests.request(
            method, settings.api_url.rstrip("/") + path, json=body, headers=headers, timeout=15
        )
    except requests.RequestException as exc:
        raise CliError(f"cannot reach {settings.api_url}: {exc}") from exc
    try:
        payload = response.json()
    except ValueError:
        raise CliError(f"{response.status_code} from the API: {response.text[:200]}") from None
    if response.status_code >= 400:
        raise CliError(f"{response.status_code} {payload.get('code')}: {payload.get('error')}")
    return payload


def run_start(args: argparse.Namespace) -> int:
    plan: dict[str, Any] = json.loads(args.plan.read_text()) if args.plan else {}
    plan.update({"candidate": args.candidate, "baseline": args.baseline})
    if args.steps:
        try:
            plan["steps"] = [float(share) for share in args.steps.split(",")]
        except ValueError:
            raise CliError(f"--steps must be numbers separated by commas: {args.steps!r}") from None
    if args.min_labels_per_step is not None:
        plan["min_labels_per_step"] = args.min_labels_per_step
    if args.policy:
        plan["policy"] = args.policy
    show(_call(args, "POST", "/rollouts", plan))
    return 0


def run_status(args: argparse.Namespace) -> int:
    newest = _call(args, "GET", "/rollouts?limit=1")["rollouts"]
    if not newest:
        print("no rollout has run yet")
        return 0
    show(newest[0])
    return 0


def run_abort(args: argparse.Namespace) -> int:
    show(_call(args, "POST", "/rollouts/current/abort"))
    return 0


def show(rollout: dict[str, Any]) -> None:
    print(
        f"rollout {rollout['id']}: {rollout['candidate']} against {rollout['baseline']},"
        f" {rollout['state']}, step {rollout['step']}"
    )
    if rollout.get("weights"):
        print(f"weights  {rollout['weights']}")
    print(f"reason   {rollout['reason']}")
    evidence = rollout.get("evidence") or {}
    for check in evidence.get("checks", []):
        mark = "ok  " if check["ok"] else "wait"
        print(f"  {mark} {check['name']:<13} {check['detail']}")
    for event in rollout.get("events", []):
        print(f"  {event['event']:<12} step {event['step']}  {event['weights']}  {event['reason']}")
