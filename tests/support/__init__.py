"""Helpers the tests, benchmarks and scripts share (imported as tests.support.*)."""
