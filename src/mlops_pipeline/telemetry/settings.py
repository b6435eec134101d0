"""When the standard ``OTEL_*`` variables ask for traces: pure functions over the environment.

Off by default, unlike the SDK (whose default exporter is OTLP to localhost): an operator turns
traces on by naming where they go. A variable set to the empty string counts as unset, so an
empty setting disables, never enables.

- ``OTEL_SDK_DISABLED=true``: off, whatever else is set.
- ``OTEL_TRACES_EXPORTER``: ``none`` is off, ``otlp`` is on; other exporters are refused.
- otherwise on exactly when ``OTEL_EXPORTER_OTLP_TRACES_ENDPOINT`` or
  ``OTEL_EXPORTER_OTLP_ENDPOINT`` is set.
- ``OTEL_EXPORTER_OTLP[_TRACES]_PROTOCOL``: only ``http/protobuf`` (the exporter shipped).
"""

from __future__ import annotations

from collections.abc import Mapping

SUPPORTED_PROTOCOL = "http/protobuf"


class TracingConfigError(ValueError):
    """The environment asks for tracing this build cannot do; the message says which variable."""


def _get(environ: Mapping[str, str], name: str) -> str:
    return environ.get(name, "").strip()


def tracing_requested(environ: Mapping[str, str]) -> bool:
    """True when ``environ`` turns traces on; raises ``TracingConfigError`` for what we lack."""
    if _get(environ, "OTEL_SDK_DISABLED").lower() == "true":
        return False
    exporters = {
        name.strip().lower() for name in _get(environ, "OTEL_TRACES_EXPORTER").split(",")
    } - {""}
    if "none" in exporters:
        return False
    unsupported = sorted(exporters - {"otlp"})
    if unsupported:
        raise TracingConfigError(
            f"OTEL_TRACES_EXPORTER={','.join(sorted(exporters))}: only 'otlp' (or 'none') is"
            " supported"
        )
    wanted = bool(exporters) or any(
        _get(environ, name)
        for name in ("OTEL_EXPORTER_OTLP_TRACES_ENDPOINT", "OTEL_EXPORTER_OTLP_ENDPOINT")
    )
    if not wanted:
        return False
    for name in ("OTEL_EXPORTER_OTLP_TRACES_PROTOCOL", "OTEL_EXPORTER_OTLP_PROTOCOL"):
        protocol = _get(environ, name)
        if protocol and protocol != SUPPORTED_PROTOCOL:
            raise TracingConfigError(
                f"{name}={protocol}: only {SUPPORTED_PROTOCOL} is supported (OTLP over HTTP)"
            )
        if protocol:  # the traces-specific variable, when set, decides
            break
    return True
