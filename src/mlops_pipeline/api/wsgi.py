"""WSGI entry for gunicorn: the one module that does work on import."""

from mlops_pipeline.bootstrap import build_app
from mlops_pipeline.config import Settings

app = build_app(Settings())
