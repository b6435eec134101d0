"""Maintenance scripts; the Python ones run as `python -m scripts.NAME`."""
