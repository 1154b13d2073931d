"""The host's own telemetry pipeline, separate from the app's, as on Azure.

The Functions host and the Durable extension export their rows (requests per invocation,
Durable tracing V2 `orchestration:`/`activity:` spans) themselves, whether or not the app
configured OpenTelemetry. devhost does the same when a connection string is set. With host.json
`telemetryMode: OpenTelemetry` and only `OTEL_EXPORTER_OTLP_ENDPOINT`, it exports over OTLP what
the host's OpenTelemetry pipeline does (otlp_export_only); otherwise it uses the process's
global provider, which is where tests attach in-memory exporters.
"""

from __future__ import annotations

import json
import logging
import os
import threading
from collections.abc import Sequence
from pathlib import Path
from typing import Any
from urllib.parse import urlsplit

from opentelemetry import trace
from opentelemetry.context import Context
from opentelemetry.sdk.resources import Resource
from opentelemetry.sdk.trace import ReadableSpan, TracerProvider
from opentelemetry.sdk.trace.export import (
    BatchSpanProcessor,
    SimpleSpanProcessor,
    SpanExporter,
    SpanExportResult,
)
from opentelemetry.sdk.trace.id_generator import RandomIdGenerator
from opentelemetry.sdk.trace.sampling import ALWAYS_ON, ParentBased
from opentelemetry.trace import SpanKind, StatusCode

from devhost.host.connectionstring import ingestion_endpoint
from devhost.host.hostlog import machine_role_instance, role_tags
from devhost.host.loopback import is_loopback_url
from devhost.host.sampling import DURABLE_TYPE, AdaptiveEstimator, HostSampler, SamplingSettings

_IDS = RandomIdGenerator()

log = logging.getLogger("devhost.telemetry")

# The exporter's switches for its own calls to Azure: statsbeat, SDK stats and the OneSettings
# control plane (azure-monitor-opentelemetry-exporter `_constants.py`). The app's
# telemetry/config.py sets the same ones in the workers (it never imports devhost);
# tests/devhost/test_one_fact.py holds the two lists and the exporter's names together.
OFFLINE_SWITCHES = {"APPLICATIONINSIGHTS_STATSBEAT_DISABLED_ALL": "true",
                    "APPLICATIONINSIGHTS_SDKSTATS_DISABLED": "true",
                    "APPLICATIONINSIGHTS_CONTROLPLANE_DISABLED": "true"}


def host_connection_string() -> str:
    """Where the host's own rows go: the connection string, or the legacy instrumentation key
    alone (the host's App Insights logger takes either; TelemetryActivator checks both)."""
    connection_string = os.environ.get("APPLICATIONINSIGHTS_CONNECTION_STRING", "").strip()
    key = os.environ.get("APPINSIGHTS_INSTRUMENTATIONKEY", "").strip()
    return connection_string or (f"InstrumentationKey={key}" if key else "")


# host.json `telemetryMode` (azure-functions-host v4.1037.0,
# src/WebJobs.Script/Diagnostics/OpenTelemetry/TelemetryMode.cs): None = 0 and
# ApplicationInsights = 1 are the classic mode; OpenTelemetry = 2.
OPEN_TELEMETRY = "OpenTelemetry"
APPLICATION_INSIGHTS = "ApplicationInsights"
_MODES = {"none": APPLICATION_INSIGHTS, "0": APPLICATION_INSIGHTS,
          "applicationinsights": APPLICATION_INSIGHTS, "1": APPLICATION_INSIGHTS,
          "opentelemetry": OPEN_TELEMETRY, "2": OPEN_TELEMETRY}
_mode = APPLICATION_INSIGHTS
# ScriptHost.WorkerOpenTelemetryEnabled: a static the host sets once any worker reports the
# WorkerOpenTelemetryEnabled capability (GrpcWorkerChannel, v4.1037.0).
worker_opentelemetry_enabled = False


def configure_telemetry_mode(app_dir: Path) -> str:
    """host.json's `telemetryMode`, read as ScriptHostBuilderExtensions.ConfigureTelemetry
    reads it (v4.1037.0): `Enum.TryParse(value, ignoreCase: true)`, names or their numbers;
    absent or unknown is ApplicationInsights, the classic mode."""
    global _mode
    path = app_dir / "host.json"
    value = json.loads(path.read_text()).get("telemetryMode") if path.is_file() else None
    _mode = _MODES.get(str(value).strip().lower(), APPLICATION_INSIGHTS) \
        if value is not None else APPLICATION_INSIGHTS
    return _mode


def telemetry_mode() -> str:
    return _mode


def note_worker_capabilities(capabilities: Any) -> None:
    """GrpcWorkerChannel: `WorkerOpenTelemetryEnabled` = true from any worker sets the
    host-wide switch (never cleared), which stops the host's OTLP logs of `Function.*`."""
    global worker_opentelemetry_enabled
    if str(capabilities.get("WorkerOpenTelemetryEnabled", "")).lower() == "true":
        worker_opentelemetry_enabled = True


def otlp_endpoint() -> str:
    return os.environ.get("OTEL_EXPORTER_OTLP_ENDPOINT", "").strip()


def otlp_export_only() -> bool:
    """The host exports over OTLP only in `telemetryMode: OpenTelemetry` with
    OTEL_EXPORTER_OTLP_ENDPOINT set (OpenTelemetryConfigurationExtensions.ConfigureOpenTelemetry:
    `AddOtlpExporter()` on its logs and traces in v4.1037.0, `UseOtlpExporter()` in main as of
    #11720). The classic
    mode (ConfigureApplicationInsights) has no OTLP exporter at all. With a connection string
    devhost keeps its classic path (the Azure Monitor exporter); this is the OTLP-only case."""
    return _mode == OPEN_TELEMETRY and bool(otlp_endpoint()) and not host_connection_string()


def offline_if_loopback(connection_string: str) -> None:
    """With a loopback endpoint, no statsbeat, SDK stats or control-plane calls (they would
    go to Azure, or post after the endpoint closed). Set in the environment before any
    exporter reads it, so the workers this process starts inherit it. The endpoint is the
    one the exporter will post to (devhost/host/connectionstring.py); a string it refuses
    is left for it to refuse."""
    endpoint = ingestion_endpoint(connection_string)
    if endpoint is not None and is_loopback_url(endpoint):
        for key, value in OFFLINE_SWITCHES.items():
            os.environ.setdefault(key, value)


def host_resource() -> Resource:
    """The host's cloud_RoleName: OTEL_SERVICE_NAME, else the site name, as on Azure."""
    return Resource.create({"service.name": os.environ.get("OTEL_SERVICE_NAME")
                            or os.environ.get("WEBSITE_SITE_NAME") or "devhost"})


def sync_export() -> bool:
    """DEVHOST_SYNC_EXPORT=true: post each host item as it ends, so a kill -9 loses none."""
    return os.environ.get("DEVHOST_SYNC_EXPORT", "").lower() == "true"


_lock = threading.Lock()
_provider: TracerProvider | None = None
_sampling = SamplingSettings()


_estimator: AdaptiveEstimator | None = None
_estimator_lock = threading.Lock()


def configure_sampling(app_dir: Path) -> SamplingSettings:
    """Read host.json's samplingSettings before the host's pipeline is built (a bad value is
    a clear error at start, like the host's options validation)."""
    global _sampling, _estimator
    _sampling = SamplingSettings.from_app_dir(app_dir)
    _estimator = None
    return _sampling


def host_sampling() -> SamplingSettings:
    return _sampling


def host_estimator() -> AdaptiveEstimator:
    """The adaptive sampling processor of the host's TelemetryConfiguration: one estimator
    counts its request rows and its logs alike."""
    global _estimator
    with _estimator_lock:
        if _estimator is None:
            _estimator = AdaptiveEstimator(_sampling)
        return _estimator
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


# Attributes the host sets on its own HTTP request row; read back when the row is shaped.
HTTP_METHOD = "HttpMethod"
HTTP_PATH = "HttpPath"
HTTP_URL = "devhost.url"
HTTP_STATUS = "devhost.response_code"
_PRIVATE = (HTTP_URL, HTTP_STATUS)


def dotnet_shape(span: ReadableSpan, envelope: Any) -> Any:
    """Reshape the Python exporter's envelope into what the host's .NET App Insights SDK
    sends for the same span (DurableTask.ApplicationInsights DurableTelemetryModule
    .CreateTelemetry / CreateTelemetryCore):

    - requests: `responseCode` "200", or "500" when the status is Error (the HTTP trigger's
      row keeps its HTTP status); `success` = status is not Error;
    - dependencies: `type` "DurableTask", or "InProc" for INTERNAL spans; no target, no
      result code;
    - properties: every tag as a string (`item.Value.ToString()`), standard-looking keys
      included, which the Python exporter would otherwise drop;
    - cloud_RoleName / cloud_RoleInstance: the host's rows per its initializers
      (devhost/host/hostlog.py role_tags); Durable V2 rows come from the extension's own
      TelemetryConfiguration (TelemetryActivator.SetupTelemetryConfiguration:
      `TelemetryConfiguration.CreateDefault()`, no role initializer), so no role name and
      the machine name as the instance.
    """
    tags = dict(envelope.tags or {})
    tags.pop("ai.cloud.role", None)
    if DURABLE_TYPE in (span.attributes or {}):
        tags["ai.cloud.roleInstance"] = machine_role_instance()
    else:
        tags.update(role_tags())
    envelope.tags = tags
    data = envelope.data.base_data
    attributes = dict(span.attributes or {})
    failed = span.status.status_code is StatusCode.ERROR
    properties = {k: str(v) for k, v in attributes.items()
                  if k not in _PRIVATE and not k.startswith("_MS.")}
    if span.kind in (SpanKind.SERVER, SpanKind.CONSUMER):
        code = attributes.get(HTTP_STATUS)
        data.response_code = str(code) if code is not None else ("500" if failed else "200")
        data.success = not failed
        if HTTP_URL in attributes:
            data.url = str(attributes[HTTP_URL])
        if HTTP_STATUS in attributes:  # a row the WebJobs logger tracks: its initializer
            for key in _APPLIED_TO_REQUEST:  # applies Name and Succeeded to the row
                properties.pop(key, None)
    else:
        data.type = "InProc" if span.kind is SpanKind.INTERNAL else "DurableTask"
        data.target = None
        data.result_code = None
        data.success = not failed
    data.properties = properties
    return envelope


class HostEnvelopeExporter:
    """The Azure Monitor exporter (its transmission, retries and disk store unchanged) with
    envelopes shaped the way the host's .NET SDK shapes them."""

    @staticmethod
    def create(connection_string: str, tracer_provider: TracerProvider) -> SpanExporter:
        offline_if_loopback(connection_string)
        from azure.monitor.opentelemetry.exporter import AzureMonitorTraceExporter

        class _Exporter(AzureMonitorTraceExporter):
            def _span_to_envelope(self, span: ReadableSpan) -> Any:
                return dotnet_shape(span, super()._span_to_envelope(span))

        return _Exporter(connection_string=connection_string, tracer_provider=tracer_provider)


# WebJobs function result state (Microsoft.Azure.WebJobs.Host FunctionResultState), which the
# ApplicationInsightsLogger stamps on Activity.Current (ApplyFunctionResultActivityTags).
RESULT_FORMAT = ("Result '{Name}' (started at={StartTime}, duration={Duration}, "
                 "succeeded={Succeeded})")


def function_result_tags(function_name: str, invocation_id: str | None, duration_ms: float,
                         succeeded: bool, trigger_reason: str | None = None
                         ) -> dict[str, str]:
    """The tags a function invocation leaves on the host's current Activity: FullName
    (the descriptor's ShortName, `Functions.<name>`), InvocationId, Name, TriggerReason
    (when known), FunctionExecutionTimeMs, Succeeded, {OriginalFormat}, Category
    Host.Results, LogLevel Information/Error (LoggerExtensions.LogFunctionResult)."""
    tags = {"FullName": f"Functions.{function_name}", "Name": function_name,
            "FunctionExecutionTimeMs": f"{duration_ms:g}", "Succeeded": str(succeeded),
            "{OriginalFormat}": RESULT_FORMAT, "Category": "Host.Results",
            "LogLevel": "Information" if succeeded else "Error"}
    if invocation_id:
        tags["InvocationId"] = invocation_id
    if trigger_reason:
        tags["TriggerReason"] = trigger_reason
    return tags


# WebJobsTelemetryInitializer.TryApplyProperty turns these into the row's own fields.
_APPLIED_TO_REQUEST = ("Name", "Succeeded")
HOST_CALL_REASON = "This function was programmatically called via the host APIs."


def http_request_row(function_name: str, method: str, path: str, url: str
                     ) -> tuple[str, dict[str, str]]:
    """Name and attributes of the host's request row for an HTTP-triggered invocation: named
    after the function, URL without its query (the host strips it so keys in `?code=` never
    reach telemetry), HttpMethod/HttpPath in customDimensions (WebJobs ApplicationInsights
    logger, Host.Results). No `http.*` keys: the Python exporter would rename the row."""
    return function_name, {HTTP_METHOD: method, HTTP_PATH: path,
                           HTTP_URL: urlsplit(url)._replace(query="", fragment="").geturl()}


def invocation_traceparent(span: trace.Span, caller: Context | None = None) -> str:
    """The `traceparent` the host hands the worker (`ScriptInvocationContext.Traceparent =
    Activity.Current?.Id`, WorkerFunctionInvoker.cs). A .NET Activity takes its trace flags
    from its parent (Activity.Create / TrySetTraceFlagsFromParent) and the classic App
    Insights SDK never sets Recorded, so the flag is the caller's, or 00 without a caller —
    whatever the host's own sampling later decides about its row. The Activity has an id of
    its own whether or not anything records it: with no exporter (a span that only carries
    its parent, or nothing) it still gets a fresh span id, in the caller's trace if any.

    In telemetryMode OpenTelemetry the HTTP request's Activity is ASP.NET Core's, which the
    host's OpenTelemetry SDK samples (ParentBased(AlwaysOn)) and marks Recorded: a request
    without a sampled-out caller hands the worker 01."""
    own = span.get_span_context()
    trace_id, span_id = own.trace_id, own.span_id
    if not span.is_recording():
        trace_id = trace_id if own.is_valid else _IDS.generate_trace_id()
        span_id = _IDS.generate_span_id()
    parent = trace.get_current_span(caller).get_span_context() if caller else None
    flags = "01" if parent is not None and parent.is_valid and parent.trace_flags.sampled \
        else "00"
    if caller is not None and otlp_export_only() and span.is_recording() \
            and own.trace_flags.sampled:
        flags = "01"
    return f"00-{trace_id:032x}-{span_id:016x}-{flags}"


def _otlp_tracer_provider() -> TracerProvider:
    """Every span devhost's host makes, as the host's OpenTelemetry tracing listens to each of
    their sources (ConfigureTracing in azure-functions-host main as of #11720, read at
    BlackRider97/azure-functions-host a1f6b7e; the sources came with #11136 and #11311):
    ASP.NET Core (an HTTP trigger's request), `Microsoft.Azure.WebJobs` (the invocation
    Activity the host starts when a trigger brings none: timers here), and
    `WebJobs.Extensions.DurableTask` / `DurableTask.*` (the Durable spans,
    devhost/durable/tracing.py). v4.1037.0 listened to `Azure.*` and ASP.NET Core only.

    OTLP/HTTP to OTEL_EXPORTER_OTLP_ENDPOINT (the exporter reads the OTEL_* settings as
    the .NET `AddOtlpExporter()` does), the OpenTelemetry SDK's default sampler
    (ParentBased(AlwaysOn): the host sets none in this mode, and host.json samplingSettings
    are the App Insights SDK's)."""
    from opentelemetry.exporter.otlp.proto.http.trace_exporter import OTLPSpanExporter

    provider = TracerProvider(resource=host_resource(), sampler=ParentBased(ALWAYS_ON))
    exporter = ReportingExporter(OTLPSpanExporter())
    provider.add_span_processor(SimpleSpanProcessor(exporter) if sync_export()
                                else BatchSpanProcessor(exporter))
    return provider


def host_tracer_provider() -> trace.TracerProvider:
    global _provider
    connection_string = host_connection_string()
    if not connection_string:
        if not otlp_export_only():
            return trace.get_tracer_provider()
        with _lock:
            if _provider is None:
                _provider = _otlp_tracer_provider()
            return _provider
    with _lock:
        if _provider is None:
            # The host decides whatever flag the caller sent: its rows by host.json
            # samplingSettings, Durable V2 rows always (DurableTelemetryModule: AllData).
            _provider = TracerProvider(resource=host_resource(),
                                       sampler=HostSampler(_sampling, host_estimator()))
            # The exporter reads the resource from its tracer provider, the global one unless
            # told: an app without OpenTelemetry has only the proxy there (no resource).
            exporter = ReportingExporter(HostEnvelopeExporter.create(connection_string,
                                                                     _provider))
            _quiet_host_traffic()
            _provider.add_span_processor(SimpleSpanProcessor(exporter) if sync_export()
                                         else BatchSpanProcessor(exporter))
        return _provider


def flush(timeout_millis: int = 10_000) -> None:
    if _provider is not None:
        _provider.force_flush(timeout_millis)
