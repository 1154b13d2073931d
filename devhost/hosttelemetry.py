"""The host's own telemetry pipeline, separate from the app's, as on Azure.

The Functions host and the Durable extension export their rows (requests per invocation,
Durable tracing V2 `orchestration:`/`activity:` spans) themselves, whether or not the app
configured OpenTelemetry. devhost does the same when a connection string is set; without one
it uses the process's global provider, which is where tests attach in-memory exporters.
"""

from __future__ import annotations

import os
import threading
from urllib.parse import urlparse

from opentelemetry import trace
from opentelemetry.sdk.resources import Resource
from opentelemetry.sdk.trace import TracerProvider
from opentelemetry.sdk.trace.export import BatchSpanProcessor

OFFLINE_SWITCHES = {"APPLICATIONINSIGHTS_STATSBEAT_DISABLED_ALL": "true",
                    "APPLICATIONINSIGHTS_SDKSTATS_DISABLED": "true",
                    "APPLICATIONINSIGHTS_CONTROLPLANE_DISABLED": "true"}

_lock = threading.Lock()
_provider: TracerProvider | None = None


def _endpoint(connection_string: str) -> str:
    parts = dict(p.split("=", 1) for p in connection_string.split(";") if "=" in p)
    return parts.get("IngestionEndpoint", "")


def host_tracer_provider() -> trace.TracerProvider:
    global _provider
    connection_string = os.environ.get("APPLICATIONINSIGHTS_CONNECTION_STRING", "").strip()
    if not connection_string:
        return trace.get_tracer_provider()
    with _lock:
        if _provider is None:
            host = urlparse(_endpoint(connection_string)).hostname or ""
            if host in ("localhost", "::1") or host.startswith("127."):
                for key, value in OFFLINE_SWITCHES.items():
                    os.environ.setdefault(key, value)
            from azure.monitor.opentelemetry.exporter import AzureMonitorTraceExporter

            name = (os.environ.get("OTEL_SERVICE_NAME") or os.environ.get("WEBSITE_SITE_NAME")
                    or "devhost")
            _provider = TracerProvider(resource=Resource.create({"service.name": name}))
            _provider.add_span_processor(BatchSpanProcessor(
                AzureMonitorTraceExporter(connection_string=connection_string)))
        return _provider


def flush(timeout_millis: int = 10_000) -> None:
    if _provider is not None:
        _provider.force_flush(timeout_millis)
