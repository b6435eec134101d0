"""Logging for a process, configured once at its entry point (the CLI, the WSGI module).

Modules only create loggers. Unconfigured, Python's last-resort handler prints warnings and
errors alone, so this package's INFO lines (a retrain's verdict) were never seen.
"""

from __future__ import annotations

import logging

FORMAT = "%(asctime)s %(levelname)s %(name)s: %(message)s"


def configure_logging() -> None:
    """INFO from this package and WARNING from libraries, to stderr.

    Nothing changes when the process configured logging already (a test runner, a program
    embedding the app): its choice stands.
    """
    root = logging.getLogger()
    if root.handlers:
        return
    logging.basicConfig(level=logging.WARNING, format=FORMAT)
    logging.getLogger("mlops_pipeline").setLevel(logging.INFO)
