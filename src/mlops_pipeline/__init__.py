"""Train, serve, A/B-route and monitor two versions of a classifier."""

__version__ = "0.1.0"
