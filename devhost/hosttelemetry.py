"""The host's own telemetry pipeline, separate from the app's, as on Azure.

The Functions host and the Durable extension export their rows (requests per invocation,
Durable tracing V2 `orchestration:`/`activity:` spans) themselves, whether or not the app
configured OpenTelemetry. devhost does the same when a connection string is set; without one
it uses the process's global provider, which is where tests attach in-memory exporters.
"""

from __future__ import annotations

import logging
import os
import threading
from collections.abc import Sequence
from urllib.parse import urlparse

from opentelemetry import trace
from opentelemetry.sdk.resources import Resource
from opentelemetry.sdk.trace import ReadableSpan, TracerProvider
from opentelemetry.sdk.trace.export import (
    BatchSpanProcessor,
    SimpleSpanProcessor,
    SpanExporter,
    SpanExportResult,
)

log = logging.getLogger("devhost.telemetry")

OFFLINE_SWITCHES = {"APPLICATIONINSIGHTS_STATSBEAT_DISABLED_ALL": "true",
                    "APPLICATIONINSIGHTS_SDKSTATS_DISABLED": "true",
                    "APPLICATIONINSIGHTS_CONTROLPLANE_DISABLED": "true"}

_lock = threading.Lock()
_provider: TracerProvider | None = None
export_failures = 0


_host_export = threading.local()


class _HostTrafficFilter(logging.Filter):
    """Keeps the log records of devhost's own exports (the Azure SDK's HTTP request/response
    lines, the exporter's own messages) out of the app's logging: on Azure the host's
    exporter lives in another process, so an app never sees them. They go to devhost's own
    logger at DEBUG instead."""

    def filter(self, record: logging.LogRecord) -> bool:
        if getattr(_host_export, "active", False):
            log.debug("host exporter: %s", record.getMessage())
            return False
        return True


_FILTER = _HostTrafficFilter()
_SDK_LOGGER_PREFIXES = ("azure.core.pipeline", "azure.monitor.opentelemetry.exporter")


def _quiet_host_traffic() -> None:
    names = [n for n in logging.Logger.manager.loggerDict if n.startswith(_SDK_LOGGER_PREFIXES)]
    for name in [*_SDK_LOGGER_PREFIXES, *names]:
        logger = logging.getLogger(name)
        if _FILTER not in logger.filters:
            logger.addFilter(_FILTER)


class ReportingExporter(SpanExporter):
    """Says so when a batch does not reach the backend. The Azure Monitor exporter keeps
    retryable batches on disk and retries them quietly; the host should not be quiet."""

    def __init__(self, inner: SpanExporter) -> None:
        self.inner = inner

    def export(self, spans: Sequence[ReadableSpan]) -> SpanExportResult:
        global export_failures
        _host_export.active = True
        try:
            result = self.inner.export(spans)
        finally:
            _host_export.active = False
        if result is not SpanExportResult.SUCCESS:
            export_failures += 1
            log.warning("telemetry export failed for %d host spans (%d failed batches so far; "
                        "retryable ones are kept on disk and sent again)", len(spans),
                        export_failures)
        return result

    def shutdown(self) -> None:
        self.inner.shutdown()

    def force_flush(self, timeout_millis: int = 30_000) -> bool:
        return self.inner.force_flush(timeout_millis)


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
            # The exporter reads the resource from its tracer provider, the global one unless
            # told: an app without OpenTelemetry has only the proxy there (no resource).
            exporter = ReportingExporter(AzureMonitorTraceExporter(
                connection_string=connection_string, tracer_provider=_provider))
            _quiet_host_traffic()
            # DEVHOST_SYNC_EXPORT=true: post each span as it ends, so a kill -9 loses none.
            sync = os.environ.get("DEVHOST_SYNC_EXPORT", "").lower() == "true"
            _provider.add_span_processor(SimpleSpanProcessor(exporter) if sync
                                         else BatchSpanProcessor(exporter))
        return _provider


def flush(timeout_millis: int = 10_000) -> None:
    if _provider is not None:
        _provider.force_flush(timeout_millis)
