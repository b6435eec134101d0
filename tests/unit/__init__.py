"""Tests that run in this process: no servers, browsers or namespaces."""
