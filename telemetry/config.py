"""`configure()`: the app owns its telemetry pipeline, set up once per process.

Exporter by environment: `APPLICATIONINSIGHTS_CONNECTION_STRING` → the Azure Monitor
exporter; `OTEL_EXPORTER_OTLP_ENDPOINT` → OTLP/HTTP; otherwise JSON lines under
`.devhost/telemetry/` (or `TELEMETRY_LOCAL_DIR`). Keep the worker's own
`PYTHON_APPLICATIONINSIGHTS_ENABLE_TELEMETRY` off: two owners means every log exported twice.

Why not the distro's `configure_azure_monitor()`: it picks its sampler from
`OTEL_TRACES_SAMPLER`, and `microsoft.rate_limited` drops spans independently of their
trace — half a run in App Insights. It also starts metrics, live metrics and performance
counters this service does not use. We build the same exporters it builds, with a sampler that
decides once per trace.
"""

from __future__ import annotations

import ipaddress
import logging
import os
import threading
from pathlib import Path
from typing import IO, TYPE_CHECKING, Any
from urllib.parse import urlsplit

from opentelemetry import _logs, trace

from . import logs

if TYPE_CHECKING:
    # Loaded inside the functions that use them: the SDK, the exporters and the logging
    # handler are `configure()`'s business, so `import telemetry` (the spans, the
    # correlation and the orchestration helpers) costs the OpenTelemetry API only, the way
    # OpenTelemetry's own instrumentations depend on the API and leave the SDK to the app.
    from opentelemetry.instrumentation.logging.handler import LoggingHandler
    from opentelemetry.sdk._logs.export import LogRecordExporter
    from opentelemetry.sdk.trace.export import SpanExporter
    from opentelemetry.sdk.trace.sampling import Sampler

DEFAULT_SERVICE_NAME = "durable-sub-orchestration"
# Exporter switches that stop calls to Azure (statsbeat, SDK stats, OneSettings control
# plane; azure-monitor-opentelemetry-exporter `_constants.py`); set when the ingestion
# endpoint is loopback, so local runs stay offline. devhost sets the same for the host's own
# exporter (devhost/host/telemetry.py); tests/devhost/test_one_fact.py holds the two together.
OFFLINE_SWITCHES = {"APPLICATIONINSIGHTS_STATSBEAT_DISABLED_ALL": "true",
                    "APPLICATIONINSIGHTS_SDKSTATS_DISABLED": "true",
                    "APPLICATIONINSIGHTS_CONTROLPLANE_DISABLED": "true"}

_lock = threading.Lock()
_handler: LoggingHandler | None = None
_files: list[IO[str]] = []


DEFAULT_INGESTION_ENDPOINT = "https://dc.services.visualstudio.com"


def ingestion_endpoint(connection_string: str) -> str | None:
    """Where the Azure Monitor exporter will post with this connection string; None when it
    would refuse the string (it then raises its own error when built).

    The exporter's rules, azure-monitor-opentelemetry-exporter 1.0.0b58
    `_connection_string_parser.py`: `;`-separated pairs that each split on `=` into exactly
    a key and a value (an empty pair or a value with `=` invalidates the string, as does an
    Authorization other than `ikey`); keys case-insensitive, neither keys nor values trimmed;
    the later of two equal keys wins; without IngestionEndpoint, `https://<Location.>dc.
    <EndpointSuffix>` when EndpointSuffix is set, else the global endpoint. (The exporter also
    falls back to the variable's endpoint; the string read here is that variable.)
    devhost has the same rules in devhost/host/connectionstring.py, which the app may not
    import; tests/devhost/test_one_fact.py holds both to the exporter's answers.
    """
    pairs: dict[str, str] = {}
    for pair in connection_string.split(";"):
        parts = pair.split("=")
        if len(parts) != 2:
            return None
        pairs[parts[0].lower()] = parts[1]
    authorization = pairs.get("authorization")
    if authorization is not None and authorization.lower() != "ikey":
        return None
    endpoint = pairs.get("ingestionendpoint")
    suffix = pairs.get("endpointsuffix")
    if endpoint is None and suffix:
        location = pairs.get("location")
        endpoint = f"https://{'' if location is None else location + '.'}dc.{suffix}"
    return endpoint or DEFAULT_INGESTION_ENDPOINT


def is_loopback_url(url: str) -> bool:
    """The URL's host is this machine: `localhost` or a loopback IP address (127.0.0.0/8,
    ::1), as `ipaddress` defines it; `127.example.com` is a name, not loopback. devhost's
    copy is devhost/host/loopback.py (tests/devhost/test_one_fact.py holds them together)."""
    try:
        host = urlsplit(url).hostname
    except ValueError:  # not a URL
        return False
    if not host:
        return False
    if host == "localhost":  # hostname is lowercased
        return True
    try:
        return ipaddress.ip_address(host).is_loopback
    except ValueError:
        return False


def sampling_ratio() -> float:
    """`TELEMETRY_SAMPLING_RATIO` (0..1, default 1): kept or dropped per trace, so per run."""
    raw = os.environ.get("TELEMETRY_SAMPLING_RATIO", "1.0")
    try:
        ratio = float(raw)
    except ValueError as exc:
        raise ValueError(f"TELEMETRY_SAMPLING_RATIO must be a number, got {raw!r}") from exc
    if not 0.0 <= ratio <= 1.0:
        raise ValueError(f"TELEMETRY_SAMPLING_RATIO must be within [0, 1], got {ratio}")
    return ratio


def run_sampler() -> Sampler:
    """One decision per run, the one Application Insights would make for its operation id.

    The decision is a function of the trace id alone (the App Insights SDKs' score, so the
    host's sampling at the same percentage keeps the same operations), taken afresh whenever
    the parent is remote, and followed when the parent is local. A remote parent's sampled
    flag is NOT obeyed: the Functions host hands `context.trace_context` a flag it never set
    from its own sampling (a .NET Activity inherits its caller's flags; with no caller it is
    00), so obeying it would silently drop every span of a run. Kept spans carry the rate, so
    each row's itemCount is right.
    """
    from azure.monitor.opentelemetry.exporter import ApplicationInsightsSampler
    from opentelemetry.sdk.trace.sampling import ParentBased

    decide = ApplicationInsightsSampler(sampling_ratio())
    return ParentBased(decide, remote_parent_sampled=decide, remote_parent_not_sampled=decide)


def sync_export() -> bool:
    """`TELEMETRY_SYNC_EXPORT` (true/false, default false)."""
    raw = os.environ.get("TELEMETRY_SYNC_EXPORT", "false").strip().lower()
    if raw not in ("true", "false", ""):
        raise ValueError(f"TELEMETRY_SYNC_EXPORT must be true or false, got {raw!r}")
    return raw == "true"


def _exporters() -> tuple[SpanExporter, LogRecordExporter]:
    connection_string = os.environ.get("APPLICATIONINSIGHTS_CONNECTION_STRING", "").strip()
    if connection_string:
        endpoint = ingestion_endpoint(connection_string)
        if endpoint is not None and is_loopback_url(endpoint):
            for key, value in OFFLINE_SWITCHES.items():
                os.environ.setdefault(key, value)
        from azure.monitor.opentelemetry.exporter import (
            AzureMonitorLogExporter,
            AzureMonitorTraceExporter,
        )

        options: dict[str, Any] = {"connection_string": connection_string}
        return AzureMonitorTraceExporter(**options), AzureMonitorLogExporter(**options)
    if os.environ.get("OTEL_EXPORTER_OTLP_ENDPOINT", "").strip():
        from opentelemetry.exporter.otlp.proto.http._log_exporter import OTLPLogExporter
        from opentelemetry.exporter.otlp.proto.http.trace_exporter import OTLPSpanExporter

        return OTLPSpanExporter(), OTLPLogExporter()
    from opentelemetry.sdk._logs.export import ConsoleLogRecordExporter
    from opentelemetry.sdk.trace.export import ConsoleSpanExporter

    folder = Path(os.environ.get("TELEMETRY_LOCAL_DIR", ".devhost/telemetry"))
    folder.mkdir(parents=True, exist_ok=True)
    spans = open(folder / "spans.jsonl", "a", encoding="utf-8")  # noqa: SIM115 - lives with the process
    records = open(folder / "logs.jsonl", "a", encoding="utf-8")  # noqa: SIM115
    _files.extend([spans, records])
    return (ConsoleSpanExporter(out=spans, formatter=lambda s: s.to_json(indent=None) + "\n"),
            ConsoleLogRecordExporter(out=records,
                                     formatter=lambda r: r.to_json(indent=None) + "\n"))


EXPORTER_LOGGERS = ("azure.core.pipeline.policies.http_logging_policy",
                    "azure.monitor.opentelemetry.exporter",
                    "azure.identity")  # a line per token fetch (managed identity on Azure)


def configure(*, span_exporter: SpanExporter | None = None,
              log_exporter: LogRecordExporter | None = None) -> None:
    """Set up tracing and logging once; later calls only add the exporters they pass
    (tests use that to attach in-memory exporters), synchronously."""
    from opentelemetry.instrumentation.logging.handler import LoggingHandler
    from opentelemetry.sdk._logs import LoggerProvider
    from opentelemetry.sdk._logs.export import BatchLogRecordProcessor, SimpleLogRecordProcessor
    from opentelemetry.sdk.resources import Resource
    from opentelemetry.sdk.trace import TracerProvider
    from opentelemetry.sdk.trace.export import BatchSpanProcessor, SimpleSpanProcessor

    global _handler
    with _lock:
        tracer_provider = trace.get_tracer_provider()
        logger_provider = _logs.get_logger_provider()
        if _handler is None:
            resource = Resource.create(
                {"service.name": os.environ.get("OTEL_SERVICE_NAME", DEFAULT_SERVICE_NAME)})
            if not isinstance(tracer_provider, TracerProvider):
                tracer_provider = TracerProvider(resource=resource, sampler=run_sampler())
                trace.set_tracer_provider(tracer_provider)
            if not isinstance(logger_provider, LoggerProvider):
                logger_provider = LoggerProvider(resource=resource)
                _logs.set_logger_provider(logger_provider)
            if span_exporter is None and log_exporter is None:
                spans, records = _exporters()
                if sync_export():
                    # Each item is posted before the code that emitted it goes on: slower,
                    # but nothing sits in memory when the process is killed (the exporter
                    # keeps batches it could not deliver on disk and sends them later).
                    tracer_provider.add_span_processor(SimpleSpanProcessor(spans))
                    logger_provider.add_log_record_processor(SimpleLogRecordProcessor(records))
                else:
                    tracer_provider.add_span_processor(BatchSpanProcessor(spans))
                    logger_provider.add_log_record_processor(BatchLogRecordProcessor(records))
            _handler = LoggingHandler(level=logging.INFO, logger_provider=logger_provider)
            # On our logger itself: azure-functions-logging turns `propagate` off on a
            # logger it gives a console handler, so a root handler would never see these.
            app_logger = logs.setup()
            app_logger.addHandler(_handler)
            # Exactly once in `traces`: under the Functions host the worker's root handler
            # sends every propagating record to the host, which writes it to App Insights
            # too (Category Function.<name>.User). This exporter's copy is the one kept: it
            # has the run's correlation keys and its span as parent (README, "Logs").
            app_logger.propagate = False
            # The exporters' own HTTP traffic: azure-core logs every request and response at
            # INFO, which the worker's root handler would send to the host (and App Insights)
            # for each batch. Their warnings and errors still get through.
            for name in EXPORTER_LOGGERS:
                quiet = logging.getLogger(name)
                if quiet.level == logging.NOTSET:  # a level the app chose stays
                    quiet.setLevel(logging.WARNING)
        if span_exporter is not None and isinstance(tracer_provider, TracerProvider):
            tracer_provider.add_span_processor(SimpleSpanProcessor(span_exporter))
        if log_exporter is not None and isinstance(logger_provider, LoggerProvider):
            logger_provider.add_log_record_processor(SimpleLogRecordProcessor(log_exporter))


def flush(timeout_millis: int = 10_000) -> None:
    """Export what is buffered (call before a short-lived process exits)."""
    for provider in (trace.get_tracer_provider(), _logs.get_logger_provider()):
        force_flush = getattr(provider, "force_flush", None)
        if force_flush is not None:
            force_flush(timeout_millis)
