"""`mlops alerting config`: deploy/alertmanager/alertmanager.yml with its settings filled in.

Alertmanager reads no environment variables, and the file in the repository holds no address or
secret: this renders it from MLOPS_ALERT_* at deploy time. A destination whose settings are empty
is left out (its receiver then sends nothing) rather than pointed at a placeholder.
"""

from __future__ import annotations

import argparse
import json
import os
import re
import sys
from collections.abc import Mapping
from pathlib import Path

from mlops_pipeline.cli.common import CliError

TEMPLATE = Path("deploy/alertmanager/alertmanager.yml")
VARIABLE = re.compile(r"\$\{(MLOPS_ALERT_[A-Z_]+)\}")
WEBHOOK_BLOCK = re.compile(
    r"^    webhook_configs:\n      - url: \$\{MLOPS_ALERT_WEBHOOK_URL\}\n(?:^        .*\n)+",
    re.MULTILINE,
)
RETRAIN_BLOCK = re.compile(
    r"^    webhook_configs:\n      - url: \$\{MLOPS_ALERT_RETRAIN_URL\}\n(?:^        .*\n)+",
    re.MULTILINE,
)
RETRAIN_SETTINGS = ("MLOPS_ALERT_RETRAIN_URL", "MLOPS_ALERT_RETRAIN_TOKEN_FILE")
EMAIL_BLOCK = re.compile(r"^    email_configs:\n(?:^      .*\n|^        .*\n)+", re.MULTILINE)
EMAIL_SETTINGS = (
    "MLOPS_ALERT_EMAIL_TO",
    "MLOPS_ALERT_SMTP_FROM",
    "MLOPS_ALERT_SMTP_SMARTHOST",
    "MLOPS_ALERT_SMTP_USERNAME",
    "MLOPS_ALERT_SMTP_PASSWORD_FILE",
)


def render(template: str, env: Mapping[str, str]) -> str:
    """The template with every ${MLOPS_ALERT_*} replaced by a quoted value; the webhook, the
    e-mail and the retrain destinations left out when their settings are not all given."""
    text = template
    if not env.get("MLOPS_ALERT_WEBHOOK_URL"):
        text = WEBHOOK_BLOCK.sub("", text)
    if not all(env.get(name) for name in EMAIL_SETTINGS):
        text = EMAIL_BLOCK.sub("", text)
    if not all(env.get(name) for name in RETRAIN_SETTINGS):  # never unauthenticated
        text = RETRAIN_BLOCK.sub("", text)
    # A JSON string is a YAML scalar: quotes, colons or newlines in a value cannot change the
    # document's structure.
    return VARIABLE.sub(lambda match: json.dumps(env.get(match.group(1), "")), text)


def add_parser(commands: argparse._SubParsersAction[argparse.ArgumentParser]) -> None:
    alerting = commands.add_parser("alerting", help="Alertmanager configuration")
    sub = alerting.add_subparsers(dest="alerting_command", required=True)
    config = sub.add_parser("config", help="render alertmanager.yml from MLOPS_ALERT_* settings")
    config.add_argument("--template", type=Path, default=TEMPLATE)
    config.add_argument("--out", type=Path, help="file to write (default: standard output)")
    config.set_defaults(handler=run_config)


def run_config(args: argparse.Namespace) -> int:
    try:
        rendered = render(args.template.read_text(encoding="utf-8"), os.environ)
    except OSError as exc:
        raise CliError(f"cannot read the template: {exc}") from exc
    if args.out is None:
        sys.stdout.write(rendered)
    else:
        args.out.parent.mkdir(parents=True, exist_ok=True)
        args.out.write_text(rendered, encoding="utf-8")
    return 0
