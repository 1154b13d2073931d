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
from datetime import UTC, datetime
from typing import Any

from opentelemetry import _logs
from opentelemetry._logs import SeverityNumber
from opentelemetry.trace.propagation.tracecontext import TraceContextTextMapPropagator

from .. import rpc
from ..hosttelemetry import host_tracer_provider

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


def host_logger_provider() -> Any:
    """The host's own log pipeline: its own exporter to the connection string's resource
    (as the host's App Insights logger is), else the process's global provider."""
    global _provider
    connection_string = os.environ.get("APPLICATIONINSIGHTS_CONNECTION_STRING", "").strip()
    if not connection_string:
        return _logs.get_logger_provider()
    host_tracer_provider()  # applies the offline switches (no statsbeat/sdkstats) first
    with _lock:
        if _provider is None:
            from azure.monitor.opentelemetry.exporter import AzureMonitorLogExporter
            from opentelemetry.sdk._logs import LoggerProvider
            from opentelemetry.sdk._logs.export import (
                BatchLogRecordProcessor,
                SimpleLogRecordProcessor,
            )
            from opentelemetry.sdk.resources import Resource

            name = (os.environ.get("OTEL_SERVICE_NAME") or os.environ.get("WEBSITE_SITE_NAME")
                    or "devhost")
            _provider = LoggerProvider(resource=Resource.create({"service.name": name}))
            exporter = AzureMonitorLogExporter(connection_string=connection_string)
            sync = os.environ.get("DEVHOST_SYNC_EXPORT", "").lower() == "true"
            _provider.add_log_record_processor(SimpleLogRecordProcessor(exporter) if sync
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
    """Files worker logs and invocation rows; knows which invocation is which function."""

    def __init__(self, console: Any = None) -> None:
        self.console = console or sys.stderr
        self._logger = host_logger_provider().get_logger("Host.Function")
        self._invocations: dict[str, tuple[str, str]] = {}  # id → (function, traceparent)

    def _emit(self, category: str, level: int, message: str, invocation_id: str,
              traceparent: str) -> None:
        text, number = _SEVERITY.get(level, ("Information", SeverityNumber.INFO))
        context = _PROPAGATOR.extract({"traceparent": traceparent}) if traceparent else None
        self._logger.emit(_logs.LogRecord(
            context=context, severity_text=text, severity_number=number, body=message,
            attributes={CATEGORY: category, LOG_LEVEL: text, INVOCATION_ID: invocation_id,
                        PROCESS_ID: os.getpid()}))

    def _print(self, message: str) -> None:
        stamp = datetime.now(UTC).strftime("%Y-%m-%dT%H:%M:%S.%fZ")[:-4] + "Z"
        print(f"[{stamp}] {message}", file=self.console, flush=True)

    def executing(self, function: str, invocation_id: str, traceparent: str,
                  reason: str) -> None:
        self._invocations[invocation_id] = (function, traceparent)
        self._emit(f"Function.{function}", rpc.RpcLog.Information,
                   f"Executing 'Functions.{function}' (Reason='{reason}', Id={invocation_id})",
                   invocation_id, traceparent)

    def executed(self, function: str, invocation_id: str, ok: bool, seconds: float,
                 error: str = "") -> None:
        _, traceparent = self._invocations.pop(invocation_id, (function, ""))
        duration = f"{seconds * 1000:.0f}ms"
        if ok:
            message = (f"Executed 'Functions.{function}' (Succeeded, Id={invocation_id}, "
                       f"Duration={duration})")
        else:
            # The console line (with the user's frames) is devhost.console's, for every
            # transport; this is the row in traces.
            message = (f"Executed 'Functions.{function}' (Failed, Id={invocation_id}, "
                       f"Duration={duration})")
        self._emit(f"Function.{function}", rpc.RpcLog.Information if ok else rpc.RpcLog.Error,
                   message, invocation_id, traceparent)

    def worker_log(self, entry: Any, worker_id: str) -> None:
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
        function, traceparent = self._invocations.get(entry.invocation_id, ("", ""))
        if not function:
            # Outside any invocation (a library's thread, the app's own exporter reporting its
            # posts): the console only, or every export would file rows about itself.
            return
        self._emit(f"Function.{function}.User", entry.level, entry.message, entry.invocation_id,
                   traceparent)

