"""What the host does with logs: the worker's RpcLogs and its own Executing/Executed rows.

Classic-mode Application Insights under the Functions host (azure-functions-host,
src/WebJobs.Script/Diagnostics; Microsoft.Azure.WebJobs.Logging.ApplicationInsights
ApplicationInsightsLogger): every log of a function invocation becomes a `traces` row whose
customDimensions carry `Category` (`Function.<name>.User` for what the user's code logged,
`Function.<name>` for the host's `Executing`/`Executed` lines), `LogLevel`, `InvocationId`,
`ProcessId`, with the invocation's operation (operation_Id/operation_ParentId). The console
shows what `func start` shows: the worker's User logs and the Executed line of each
invocation, with the user's exception when it failed.
"""

from __future__ import annotations

import os
import sys
import threading
from typing import Any

from opentelemetry import _logs
from opentelemetry._logs import SeverityNumber
from opentelemetry.context import Context
from opentelemetry.trace.propagation.tracecontext import TraceContextTextMapPropagator

from devhost import rpc
from devhost.host import console, telemetry
from devhost.host.telemetry import (
    host_connection_string,
    host_resource,
    offline_if_loopback,
    otlp_export_only,
    sync_export,
)

CATEGORY = "Category"
LOG_LEVEL = "LogLevel"
INVOCATION_ID = "InvocationId"
PROCESS_ID = "ProcessId"
_SEVERITY = {rpc.RpcLog.Trace: ("Trace", SeverityNumber.TRACE),
             rpc.RpcLog.Debug: ("Debug", SeverityNumber.DEBUG),
             rpc.RpcLog.Information: ("Information", SeverityNumber.INFO),
             rpc.RpcLog.Warning: ("Warning", SeverityNumber.WARN),
             rpc.RpcLog.Error: ("Error", SeverityNumber.ERROR),
             rpc.RpcLog.Critical: ("Critical", SeverityNumber.FATAL)}
_PROPAGATOR = TraceContextTextMapPropagator()
_lock = threading.Lock()
_provider: Any = None


# The categories the host's OpenTelemetryLoggerProvider never exports, and those it drops once
# a worker reports WorkerOpenTelemetryEnabled (AddDefaultOpenTelemetryFilters in
# OpenTelemetryConfigurationExtensions.cs, azure-functions-host main as of #11720, read at
# BlackRider97/azure-functions-host a1f6b7e), as Microsoft.Extensions.Logging's
# LoggerRuleSelector matches them: a category starting with the rule's (ignoring case), `*`
# ending the prefix. (v4.1037.0 dropped all of them, and Microsoft.Azure.WebJobs.*, only
# with the worker's OpenTelemetry.)
_NEVER_EXPORTED = ("azure.", "host.results", "host.aggregator")
_DROPPED_WITH_WORKER_OTEL = ("function.",)


def otlp_log_category_exported(category: str) -> bool:
    """Whether the host's OTLP log exporter sees a row of `category`: `Function.*` (the
    Executing/Executed lines, the worker's relayed logs) only while no worker exports its own
    telemetry ("we expect the user's own code to be logging these where they want them to
    go"); `Azure.*`, `Host.Results`, `Host.Aggregator` never."""
    name = category.lower()
    if name.startswith(_NEVER_EXPORTED):
        return False
    return not (telemetry.worker_opentelemetry_enabled
                and name.startswith(_DROPPED_WITH_WORKER_OTEL))


def _otlp_logger_provider() -> Any:
    """OTLP/HTTP to OTEL_EXPORTER_OTLP_ENDPOINT, as `o.AddOtlpExporter()` on the host's
    OpenTelemetry logger (telemetryMode OpenTelemetry): the Executing/Executed rows
    (`Function.<name>`) and the worker's user logs (`Function.<name>.User`)."""
    from opentelemetry.exporter.otlp.proto.http._log_exporter import OTLPLogExporter
    from opentelemetry.sdk._logs import LoggerProvider
    from opentelemetry.sdk._logs.export import BatchLogRecordProcessor, SimpleLogRecordProcessor

    provider = LoggerProvider(resource=host_resource())
    exporter = OTLPLogExporter()
    provider.add_log_record_processor(SimpleLogRecordProcessor(exporter) if sync_export()
                                      else BatchLogRecordProcessor(exporter))
    return provider


def host_logger_provider() -> Any:
    """The host's own log pipeline: its own exporter to the connection string's resource
    (as the host's App Insights logger is); OTLP in telemetryMode OpenTelemetry with only an
    OTLP endpoint; else the process's global provider."""
    global _provider
    connection_string = host_connection_string()
    if not connection_string:
        if not otlp_export_only():
            return _logs.get_logger_provider()
        with _lock:
            if _provider is None:
                _provider = _otlp_logger_provider()
            return _provider
    offline_if_loopback(connection_string)
    with _lock:
        if _provider is None:
            from azure.monitor.opentelemetry.exporter import AzureMonitorLogExporter
            from opentelemetry.sdk._logs import LoggerProvider
            from opentelemetry.sdk._logs.export import (
                BatchLogRecordProcessor,
                SimpleLogRecordProcessor,
            )

            _provider = LoggerProvider(resource=host_resource())
            exporter = AzureMonitorLogExporter(connection_string=connection_string)
            _provider.add_log_record_processor(SimpleLogRecordProcessor(exporter)
                                               if sync_export()
                                               else BatchLogRecordProcessor(exporter))
        return _provider


def flush(timeout_millis: int = 10_000) -> None:
    if _provider is not None:
        _provider.force_flush(timeout_millis)


def shutdown() -> None:
    """Export what is left and stop, while the local ingestion endpoint still serves: at
    interpreter exit its thread pool no longer takes work."""
    global _provider
    if _provider is not None:
        _provider.shutdown()
        _provider = None


class HostLogs:
    """Files worker logs and invocation rows; knows which invocation is which function.

    The console shows what `func start` shows (its console logger sees the host's
    `Function.<name>` category like every provider): an `Executing` and an `Executed` line per
    invocation, orchestrator replays included. `invocations=False` (`devhost start --quiet`)
    keeps only failures and the app's own logs there; the rows are filed either way."""

    def __init__(self, *, invocations: bool = True) -> None:
        self._logger = host_logger_provider().get_logger("Host.Function")
        self._otlp = otlp_export_only()
        self._console_invocations = invocations
        # id → (function, the invocation's context, parsed once for all its rows)
        self._invocations: dict[str, tuple[str, Context | None]] = {}

    def _emit(self, category: str, level: rpc.RpcLog.Level, message: str, invocation_id: str,
              context: Context | None) -> None:
        if self._otlp and not otlp_log_category_exported(category):
            return
        text, number = _SEVERITY.get(level, ("Information", SeverityNumber.INFO))
        self._logger.emit(_logs.LogRecord(
            context=context, severity_text=text, severity_number=number, body=message,
            attributes={CATEGORY: category, LOG_LEVEL: text, INVOCATION_ID: invocation_id,
                        PROCESS_ID: os.getpid()}))

    def _print(self, message: str) -> None:
        print(f"{console.stamp()} {message}", file=sys.stderr, flush=True)

    def executing(self, function: str, invocation_id: str, traceparent: str,
                  reason: str) -> None:
        context = _PROPAGATOR.extract({"traceparent": traceparent}) if traceparent else None
        self._invocations[invocation_id] = (function, context)
        line = f"Executing 'Functions.{function}' (Reason='{reason}', Id={invocation_id})"
        self._emit(f"Function.{function}", rpc.RpcLog.Information, line, invocation_id, context)
        if self._console_invocations:
            self._print(line)

    def executed(self, function: str, invocation_id: str, ok: bool, seconds: float) -> None:
        """The row in traces and, on success, the console line; the console lines of a
        failure (with the user's frames) are devhost.host.console's, for every transport."""
        _, context = self._invocations.pop(invocation_id, (function, None))
        line = (f"Executed 'Functions.{function}' ({'Succeeded' if ok else 'Failed'}, "
                f"Id={invocation_id}, Duration={seconds * 1000:.0f}ms)")
        self._emit(f"Function.{function}", rpc.RpcLog.Information if ok else rpc.RpcLog.Error,
                   line, invocation_id, context)
        if ok and self._console_invocations:
            self._print(line)

    def worker_log(self, entry: rpc.RpcLog, worker_id: str) -> None:
        """An RpcLog from a worker. User logs of an invocation go to traces under
        `Function.<name>.User` and to the console; the worker's System logs are the
        host's diagnostics (not the customer's App Insights), shown only when they warn."""
        user = entry.log_category == rpc.RpcLog.User
        if user:
            self._print(entry.message)
        elif entry.level >= rpc.RpcLog.Warning:  # the worker's own: its first line is enough,
            self._print(entry.message.splitlines()[0] if entry.message else "")  # not frames
        if not user:
            return
        function, context = self._invocations.get(entry.invocation_id, ("", None))
        if not function:
            # Outside any invocation (a library's thread, the app's own exporter reporting its
            # posts): the console only, or every export would file rows about itself.
            return
        self._emit(f"Function.{function}.User", entry.level, entry.message, entry.invocation_id,
                   context)

