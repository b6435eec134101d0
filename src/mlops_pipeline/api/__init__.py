"""HTTP adapter: a Flask app factory whose routes parse, delegate to the service, serialize."""

from mlops_pipeline.api.app import create_app

__all__ = ["create_app"]
