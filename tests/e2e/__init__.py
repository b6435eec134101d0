"""Tests that start real servers, browsers, PostgreSQL or network namespaces."""
