"""Telemetry for operators: OpenTelemetry traces (Prometheus metrics live in monitoring/)."""
