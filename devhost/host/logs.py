"""What the host does with logs: the worker's RpcLogs and its own Executing/Executed rows.

Classic-mode Application Insights under the Functions host: every log of a function
invocation is shaped by devhost/host/hostlog.py as ApplicationInsightsLogger shapes it
(Category `Function.<name>.User` for what the user's code logged, `Function.<name>` for the
host's `Executing`/`Executed` lines, FunctionInstanceLogger in azure-webjobs-sdk f79ea0b),
inside the invocation's scope and operation. The console shows what `func start` shows: the
worker's User logs and the Executed line of each invocation, with the user's exception when
it failed.
"""

from __future__ import annotations

import sys
import threading
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

from opentelemetry import _logs
from opentelemetry.trace.propagation.tracecontext import TraceContextTextMapPropagator

from devhost import rpc
from devhost.host import console, telemetry
from devhost.host.hostlog import (
    DotnetException,
    HostLogger,
    Level,
    LogLevels,
    Scope,
    shape_log_envelope,
)
from devhost.host.telemetry import (
    RESULT_FORMAT,
    host_connection_string,
    host_estimator,
    host_resource,
    host_sampling,
    offline_if_loopback,
    otlp_export_only,
    sync_export,
)

_LEVELS = {rpc.RpcLog.Trace: Level.TRACE, rpc.RpcLog.Debug: Level.DEBUG,
           rpc.RpcLog.Information: Level.INFORMATION, rpc.RpcLog.Warning: Level.WARNING,
           rpc.RpcLog.Error: Level.ERROR, rpc.RpcLog.Critical: Level.CRITICAL}
_PROPAGATOR = TraceContextTextMapPropagator()
_lock = threading.Lock()
_provider: Any = None
_levels = LogLevels()
_logger: HostLogger | None = None
_logger_lock = threading.Lock()


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


def _processor(exporter: Any) -> Any:
    """A batch, as the host's channel buffers; with DEVHOST_SYNC_EXPORT, each row is posted
    as soon as it is written, from the processor's own thread (a batch of one): the engine
    and the worker channel, which write the host's rows, never wait on a post."""
    from opentelemetry.sdk._logs.export import BatchLogRecordProcessor

    return BatchLogRecordProcessor(exporter, schedule_delay_millis=1 if sync_export() else None,
                                   max_export_batch_size=1 if sync_export() else None)


def _otlp_logger_provider() -> Any:
    """OTLP/HTTP to OTEL_EXPORTER_OTLP_ENDPOINT, as `o.AddOtlpExporter()` on the host's
    OpenTelemetry logger (telemetryMode OpenTelemetry): the Executing/Executed rows
    (`Function.<name>`) and the worker's user logs (`Function.<name>.User`)."""
    from opentelemetry.exporter.otlp.proto.http._log_exporter import OTLPLogExporter
    from opentelemetry.sdk._logs import LoggerProvider

    provider = LoggerProvider(resource=host_resource())
    exporter = OTLPLogExporter()
    provider.add_log_record_processor(_processor(exporter))
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

            class _Exporter(AzureMonitorLogExporter):
                def _log_to_envelope(self, readable_log_record: Any) -> Any:
                    return shape_log_envelope(super()._log_to_envelope(readable_log_record),
                                              readable_log_record.log_record.attributes)

            _provider = LoggerProvider(resource=host_resource())
            exporter = _Exporter(connection_string=connection_string)
            _provider.add_log_record_processor(_processor(exporter))
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


def configure_log_levels(app_dir: Path) -> LogLevels:
    """host.json `logging.logLevel`, read before the host's loggers exist (a level the host
    does not know stops it at start)."""
    global _levels, _logger
    _levels = LogLevels.from_app_dir(app_dir)
    _logger = None
    return _levels


def host_logger() -> HostLogger:
    """The host's ILogger → Application Insights: one for the whole host, on its log
    pipeline, its log levels and its adaptive sampling."""
    global _logger
    with _logger_lock:
        if _logger is None:
            otlp = otlp_export_only()
            _logger = HostLogger(levels=_levels, sampling=host_sampling(),
                                 estimator=host_estimator(),
                                 logger=host_logger_provider().get_logger("Host"),
                                 exports=otlp_log_category_exported if otlp
                                 else (lambda _category: True),
                                 app_insights=not otlp)
        return _logger


# FunctionInstanceLogger.Log (azure-webjobs-sdk f79ea0b,
# src/Microsoft.Azure.WebJobs.Host/Loggers/FunctionInstanceLogger.cs): its LoggerMessages.
EXECUTING = "Executing '{functionName}' (Reason='{reason}', Id={invocationId})"
EXECUTED = ("Executed '{functionName}' ({status}, Id={invocationId}, "
            "Duration={executionDuration}ms)")
FUNCTION_INVOCATION_EXCEPTION = "Microsoft.Azure.WebJobs.Host.FunctionInvocationException"
RPC_EXCEPTION = "Microsoft.Azure.WebJobs.Script.Workers.Rpc.RpcException"


def invocation_exception(function: str, error: str, stack: str) -> list[DotnetException]:
    """The exception a failed out-of-process invocation logs: FunctionExecutor's
    FunctionInvocationException around the worker's RpcException (azure-functions-host
    89dc438, src/WebJobs.Script/Workers/Rpc/RpcException.cs: `Result: <result>\nException:
    <message>\nStack: <stack>`). The worker's traceback is in the message; the exceptions'
    own stacks are .NET frames, which devhost has none of."""
    return [DotnetException(FUNCTION_INVOCATION_EXCEPTION,
                            f"Exception while executing function: Functions.{function}"),
            DotnetException(RPC_EXCEPTION,
                            f"Result: Failure\nException: {error}\nStack: {stack}")]


def function_result_failed(function: str, invocation_id: str, error: str, stack: str,
                           traceparent: str, started: datetime, ended: datetime,
                           trigger_reason: str | None = None) -> None:
    """LoggerExtensions.LogFunctionResult of a failed invocation (azure-webjobs-sdk f79ea0b):
    ApplicationInsightsLogger.LogFunctionResult → LogException with the FunctionResultState
    (prefixed, no message: an exceptions row and no trace), Category `Host.Results`, under
    the invocation's Activity (`traceparent`: the request row, or Durable's V2 span)."""
    context = _PROPAGATOR.extract({"traceparent": traceparent}) if traceparent else None
    duration = ended - started
    values: list[tuple[str, Any]] = [
        ("FullName", f"Functions.{function}"), ("InvocationId", invocation_id),
        ("Name", function), ("TriggerReason", trigger_reason),
        ("StartTime", dotnet_datetime(started)), ("EndTime", dotnet_datetime(ended)),
        ("Duration", dotnet_timespan(duration)), ("Succeeded", False),
        ("{OriginalFormat}", RESULT_FORMAT)]
    host_logger().log("Host.Results", Level.ERROR, "", values,
                      scope=Scope(invocation_id, function, context),
                      exception=invocation_exception(function, error, stack), message="")


def dotnet_datetime(moment: datetime) -> str:
    """ApplicationInsightsLogger.ApplyProperty's DateTime format: yyyy-MM-ddTHH:mm:ss.fffK."""
    utc = moment.astimezone(UTC)
    return utc.strftime("%Y-%m-%dT%H:%M:%S.") + f"{utc.microsecond // 1000:03d}Z"


def dotnet_timespan(interval: timedelta) -> str:
    """TimeSpan.ToString(): hh:mm:ss.fffffff."""
    total = interval.total_seconds()
    hours, rest = divmod(total, 3600)
    minutes, seconds = divmod(rest, 60)
    return f"{int(hours):02d}:{int(minutes):02d}:{int(seconds):02d}." \
           f"{round((seconds % 1) * 10_000_000):07d}"


class HostLogs:
    """Files worker logs and invocation rows; knows which invocation is which function.

    The console shows what `func start` shows (its console logger sees the host's
    `Function.<name>` category like every provider): an `Executing` and an `Executed` line per
    invocation, orchestrator replays included. `invocations=False` (`devhost start --quiet`)
    keeps only failures and the app's own logs there; the rows are filed either way."""

    def __init__(self, *, invocations: bool = True) -> None:
        self._console_invocations = invocations
        # id → the invocation's logger scope (its function and context, parsed once)
        self._invocations: dict[str, Scope] = {}

    def _emit(self, category: str, level: Level, template: str, values: list[tuple[str, Any]],
              scope: Scope, *, event_id: int = 0, event_name: str = "",
              exception: list[DotnetException] | None = None, message: str | None = None
              ) -> None:
        host_logger().log(category, level, template, values, event_id=event_id,
                          event_name=event_name, scope=scope, exception=exception or (),
                          message=message)

    def _print(self, message: str) -> None:
        print(f"{console.stamp()} {message}", file=sys.stderr, flush=True)

    def executing(self, function: str, invocation_id: str, traceparent: str,
                  reason: str) -> None:
        context = _PROPAGATOR.extract({"traceparent": traceparent}) if traceparent else None
        scope = Scope(invocation_id, function, context)
        self._invocations[invocation_id] = scope
        values: list[tuple[str, Any]] = [("functionName", f"Functions.{function}"),
                                         ("reason", reason), ("invocationId", invocation_id)]
        self._emit(f"Function.{function}", Level.INFORMATION, EXECUTING, values, scope,
                   event_id=1, event_name="FunctionStarted")
        if self._console_invocations:
            self._print(EXECUTING.format(functionName=f"Functions.{function}", reason=reason,
                                         invocationId=invocation_id))

    def executed(self, function: str, invocation_id: str, ok: bool, seconds: float,
                 error: str = "", stack: str = "") -> None:
        """The row in traces (and, for a failure, the exceptions row its exception makes)
        and, on success, the console line; the console lines of a failure (with the user's
        frames) are devhost.host.console's, for every transport."""
        scope = self._invocations.pop(invocation_id, Scope(invocation_id, function))
        values: list[tuple[str, Any]] = [
            ("functionName", f"Functions.{function}"),
            ("status", "Succeeded" if ok else "Failed"), ("invocationId", invocation_id),
            ("executionDuration", int(seconds * 1000))]
        self._emit(f"Function.{function}", Level.INFORMATION if ok else Level.ERROR, EXECUTED,
                   values, scope, event_id=2 if ok else 3, event_name="FunctionCompleted",
                   exception=None if ok else invocation_exception(function, error, stack))
        if ok and self._console_invocations:
            self._print(EXECUTED.format(functionName=f"Functions.{function}", status="Succeeded",
                                        invocationId=invocation_id,
                                        executionDuration=int(seconds * 1000)))

    def worker_log(self, entry: rpc.RpcLog, worker_id: str) -> None:
        """An RpcLog from a worker. User logs of an invocation go to traces under
        `Function.<name>.User` and to the console; the worker's System logs are the
        host's diagnostics (not the customer's App Insights), shown only when they warn.
        An RpcLog carries no exception (`log.exception(...)` arrives as text), so it is a
        traces row only, never an exceptions row."""
        user = entry.log_category == rpc.RpcLog.User
        if user:
            self._print(entry.message)
        elif entry.level >= rpc.RpcLog.Warning:  # the worker's own: its first line is enough,
            self._print(entry.message.splitlines()[0] if entry.message else "")  # not frames
        if not user:
            return
        scope = self._invocations.get(entry.invocation_id)
        if scope is None:
            # Outside any invocation (a library's thread, the app's own exporter reporting its
            # posts): the console only, or every export would file rows about itself.
            return
        # RpcLog → ILogger.Log(level, message) with no template: no prop__ keys.
        self._emit(f"Function.{scope.function_name}.User",
                   _LEVELS.get(entry.level, Level.INFORMATION), "", [], scope,
                   message=entry.message)
