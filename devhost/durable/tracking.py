"""The Durable extension's tracking traces: category `Host.Triggers.DurableTask`.

EndToEndTraceHelper (Azure/azure-functions-durable-extension, the 3.x line as of the release
that added ClientOperationReceived, #3317/#3326; read at commit 00812bc of HttpApiHandler.cs
and the matching EndToEndTraceHelper.cs) logs every step of an instance through the
extension's ILogger (`DurableTaskExtension.LoggerCategoryName` =
`LogCategories.CreateTriggerCategory("DurableTask")`). Under classic Application Insights
each is a `traces` row whose template values are `prop__instanceId`, `prop__functionName`,
`prop__functionType`, `prop__state`, `prop__isReplay`, … (devhost/host/hostlog.py).

They are on by default. host.json `extensions.durableTask.tracing`:
`traceReplayEvents` (default false) keeps replayed steps out (`ShouldLogEvent`);
`traceInputsAndOutputs` (default false) replaces inputs and outputs with
`(Redacted <n> characters)` (`SanitizeString`). `logging.logLevel` for
`Host.Triggers.DurableTask` (e.g. `Warning`) filters them like any category.

Which step logs what, for an out-of-process (Python) app: TaskOrchestrationShim (started,
completed, failed), DurableOrchestrationContext (scheduled, listening), DurableTaskExtension
(awaited), TaskActivityShim (activity started, completed, failed), DurableClient (terminated)
and HttpApiHandler.LogClientOperationReceived (every management call that carries a
well-formed `X-Azure-Functions-InvocationId`, which SDK 1.7 sends from the calling
invocation). The engine calls the methods here; this module only writes rows.
"""

from __future__ import annotations

import itertools
import json
import os
import uuid
from collections.abc import Awaitable, Callable, Sequence
from dataclasses import dataclass, field
from datetime import UTC, datetime
from typing import Any

from aiohttp import web

from devhost.host.hostlog import HostLogger, Level, Scope
from devhost.host.logs import host_logger

CATEGORY = "Host.Triggers.DurableTask"
ORCHESTRATOR = "Orchestrator"
ACTIVITY = "Activity"
ENTITY = "Entity"
# FileVersionInfo of the extension assembly on Azure; devhost says what it stands in for.
EXTENSION_VERSION = "3.x-devhost"
INVOCATION_ID_HEADER = "X-Azure-Functions-InvocationId"
_TAIL = ("HubName: {hubName}. AppName: {appName}. SlotName: {slotName}. "
         "ExtensionVersion: {extensionVersion}. SequenceNumber: {sequenceNumber}.")

SCHEDULED = ("{instanceId}: Function '{functionName} ({functionType})' scheduled. Reason: "
             "{reason}. IsReplay: {isReplay}. State: {state}. RuntimeStatus: {runtimeStatus}. "
             + _TAIL + " TargetInstanceId: {targetInstanceId}.")
STARTED = ("{instanceId}: Function '{functionName} ({functionType})' started. IsReplay: "
           "{isReplay}. Input: {input}. State: {state}. RuntimeStatus: {runtimeStatus}. "
           + _TAIL + " TaskEventId: {taskEventId}")
AWAITED = ("{instanceId}: Function '{functionName} ({functionType})' awaited. IsReplay: "
           "{isReplay}. State: {state}. " + _TAIL)
LISTENING = ("{instanceId}: Function '{functionName} ({functionType})' is waiting for input. "
             "Reason: {reason}. IsReplay: {isReplay}. State: {state}. " + _TAIL)
COMPLETED = ("{instanceId}: Function '{functionName} ({functionType})' completed. "
             "ContinuedAsNew: {continuedAsNew}. IsReplay: {isReplay}. Output: {output}. State: "
             "{state}. RuntimeStatus: {runtimeStatus}. " + _TAIL + " TaskEventId: {taskEventId}")
FAILED = ("{instanceId}: Function '{functionName} ({functionType})' failed with an error. "
          "Reason: {reason}. IsReplay: {isReplay}. State: {state}. RuntimeStatus: "
          "{runtimeStatus}. " + _TAIL + " TaskEventId: {taskEventId}")
TERMINATED = ("{instanceId}: Function '{functionName} ({functionType})' was terminated. "
              "Reason: {reason}. State: {state}. RuntimeStatus: {runtimeStatus}. " + _TAIL)
CLIENT_OPERATION = ("Client operation '{operationType}' received for instance '{instanceId}'. "
                    "FunctionInvocationId: {functionInvocationId}. " + _TAIL)
RPC_EXCEPTION = "Microsoft.Azure.WebJobs.Script.Workers.Rpc.RpcException"
# Where a row is logged: inside a function's logger scope (the orchestrator's invocation:
# its InvocationId, operation_Name and Activity), or under the Activity current outside any
# function (a `traceparent`, "" for none).
Where = Scope | str


@dataclass
class Tracking:
    """EndToEndTraceHelper: one per extension, its sequence number counting every row."""

    hub_name: str = "DevHostHub"
    trace_replay_events: bool = False
    trace_inputs_and_outputs: bool = False
    logger: Callable[[], HostLogger] = host_logger
    _sequence: itertools.count[int] = field(default_factory=itertools.count)

    def _log(self, level: Level, template: str, values: Sequence[tuple[str, Any]],
             where: Where = "") -> None:
        # `this.sequenceNumber++` is an argument: counted even when the level filters the row.
        tail = [("hubName", self.hub_name), ("appName", os.environ.get("WEBSITE_SITE_NAME", "")),
                ("slotName", os.environ.get("WEBSITE_SLOT_NAME", "")),
                ("extensionVersion", EXTENSION_VERSION), ("sequenceNumber", next(self._sequence))]
        ordered = _in_template_order(template, [*values, *tail])
        if isinstance(where, Scope):
            self.logger().log(CATEGORY, level, template, ordered, scope=where)
        else:
            self.logger().log(CATEGORY, level, template, ordered, traceparent=where)

    def _payload(self, raw: str | None) -> str:
        """SanitizeString: the raw payload only with traceInputsAndOutputs."""
        text = raw or ""
        return text if self.trace_inputs_and_outputs else f"(Redacted {len(text)} characters)"

    def _logs_replay(self, is_replay: bool) -> bool:
        return self.trace_replay_events or not is_replay

    def function_scheduled(self, name: str, instance_id: str, reason: str, function_type: str,
                           *, is_replay: bool = False, target_instance_id: str | None = None,
                           where: Where = "") -> None:
        if self._logs_replay(is_replay):
            self._log(Level.INFORMATION, SCHEDULED, [
                ("instanceId", instance_id), ("functionName", name),
                ("functionType", function_type), ("reason", reason), ("isReplay", is_replay),
                ("state", "Scheduled"), ("runtimeStatus", "Pending"),
                ("targetInstanceId", target_instance_id or None)], where)

    def function_starting(self, name: str, instance_id: str, input_json: str | None,
                          function_type: str, *, is_replay: bool = False,
                          task_event_id: int = -1, where: Where = "") -> None:
        if self._logs_replay(is_replay):
            self._log(Level.INFORMATION, STARTED, [
                ("instanceId", instance_id), ("functionName", name),
                ("functionType", function_type), ("isReplay", is_replay),
                ("input", self._payload(input_json)), ("state", "Started"),
                ("runtimeStatus", "Running"), ("taskEventId", task_event_id)], where)

    def function_awaited(self, name: str, instance_id: str, *, is_replay: bool = False,
                         where: Where = "") -> None:
        if self._logs_replay(is_replay):
            self._log(Level.INFORMATION, AWAITED, [
                ("instanceId", instance_id), ("functionName", name),
                ("functionType", ORCHESTRATOR), ("isReplay", is_replay), ("state", "Awaited")],
                where)

    def function_listening(self, name: str, instance_id: str, reason: str, *,
                           is_replay: bool = False, where: Where = "") -> None:
        if self._logs_replay(is_replay):
            self._log(Level.INFORMATION, LISTENING, [
                ("instanceId", instance_id), ("functionName", name),
                ("functionType", ORCHESTRATOR), ("reason", reason), ("isReplay", is_replay),
                ("state", "Listening")], where)

    def function_completed(self, name: str, instance_id: str, output_json: str | None,
                           function_type: str, *, continued_as_new: bool = False,
                           is_replay: bool = False, task_event_id: int = -1,
                           where: Where = "") -> None:
        if self._logs_replay(is_replay):
            self._log(Level.INFORMATION, COMPLETED, [
                ("instanceId", instance_id), ("functionName", name),
                ("functionType", function_type), ("continuedAsNew", continued_as_new),
                ("isReplay", is_replay), ("output", self._payload(output_json)),
                ("state", "Completed"), ("runtimeStatus", "Completed"),
                ("taskEventId", task_event_id)], where)

    def function_failed(self, name: str, instance_id: str, reason: str, function_type: str, *,
                        is_replay: bool = False, task_event_id: int = -1,
                        where: Where = "") -> None:
        if self._logs_replay(is_replay):
            self._log(Level.ERROR, FAILED, [
                ("instanceId", instance_id), ("functionName", name),
                ("functionType", function_type), ("reason", reason), ("isReplay", is_replay),
                ("state", "Failed"), ("runtimeStatus", "Failed"),
                ("taskEventId", task_event_id)], where)

    def activity_failed(self, name: str, instance_id: str, error: str, stack: str, *,
                        task_event_id: int, where: Where = "") -> None:
        """TaskActivityShim → FunctionFailed(exception): SanitizeException gives the
        exception's type and .NET stack, or `exception.ToString()` with
        traceInputsAndOutputs; out of process the exception is the worker's RpcException."""
        reason = (f"{RPC_EXCEPTION}: Result: Failure\nException: {error}\nStack: {stack}"
                  if self.trace_inputs_and_outputs else f"{RPC_EXCEPTION}\n")
        self.function_failed(name, instance_id, reason, ACTIVITY, task_event_id=task_event_id,
                             where=where)

    def function_terminated(self, name: str, instance_id: str, reason: str | None,
                            where: Where = "") -> None:
        self._log(Level.WARNING, TERMINATED, [
            ("instanceId", instance_id), ("functionName", name), ("functionType", ORCHESTRATOR),
            ("reason", self._payload(reason)), ("state", "Terminated"),
            ("runtimeStatus", "Terminated")], where)

    def client_operation_received(self, operation: str, instance_id: str,
                                  invocation_id: str | None, where: Where = "") -> None:
        """Only with a function invocation id: the row exists to join the calling
        invocation to the instance."""
        if invocation_id:
            self._log(Level.INFORMATION, CLIENT_OPERATION, [
                ("operationType", operation), ("instanceId", instance_id),
                ("functionInvocationId", invocation_id)], where)


def dotnet_roundtrip(moment: datetime) -> str:
    """DateTime.ToString("o") of a UTC time: seven fractional digits and a Z."""
    utc = moment.astimezone(UTC) if moment.tzinfo else moment
    return utc.strftime("%Y-%m-%dT%H:%M:%S.%f") + "0Z"


def _in_template_order(template: str, values: list[tuple[str, Any]]) -> list[tuple[str, Any]]:
    """LoggerMessage fills holes by position: the values in the template's order."""
    by_name = dict(values)
    names = [part.split("}", 1)[0] for part in template.split("{")[1:]]
    return [(name, by_name.get(name)) for name in names]


def invocation_id_header(request: web.Request) -> str | None:
    """HttpApiHandler.LogClientOperationReceived: only a well-formed GUID is taken (a header
    from an outside client must not inject text into the logs)."""
    value = request.headers.get(INVOCATION_ID_HEADER)
    if not value:
        return None
    try:
        uuid.UUID(value)
    except ValueError:
        return None
    return value


def client_operation(method: str, path: str) -> tuple[str, str] | None:
    """(operation type, instance id) of a management call, by HttpApiHandler's routes;
    None for a call it does not log (an unknown path, makeprimary)."""
    parts = [p for p in path.split("/") if p]
    if not parts:
        return None
    head, rest = parts[0].lower(), parts[1:]
    if head == "orchestrators" and method == "POST" and rest:
        return "StartOrchestration", rest[1] if len(rest) > 1 else ""
    if head == "entities":
        if len(rest) >= 2:
            entity = f"@{rest[0].lower()}@{rest[1]}"
            return ("GetEntity", entity) if method == "GET" else ("SignalEntity", entity)
        return ("QueryEntities", "") if method == "GET" else None
    if head != "instances":
        return None
    if not rest:
        return {"GET": ("QueryInstances", ""), "DELETE": ("PurgeInstances", "(filter)")
                }.get(method)
    instance_id = rest[0]
    if len(rest) == 1:
        return {"GET": ("GetInstance", instance_id), "DELETE": ("PurgeInstances", instance_id)
                }.get(method)
    operation = rest[1].lower()
    names = {"terminate": "Terminate", "suspend": "Suspend", "resume": "Resume",
             "rewind": "Rewind", "restart": "Restart", "raiseevent": "RaiseEvent"}
    return (names[operation], instance_id) if method == "POST" and operation in names else None


Handler = Callable[[web.Request], Awaitable[web.StreamResponse]]


def client_operations_middleware(tracking: Tracking, prefixes: Sequence[str]) -> Any:
    """Logs ClientOperationReceived for the management API's calls under `prefixes`. A start
    without an id in its path gets the id the API generated (its check-status `id`)."""
    lowered = tuple(p.lower().rstrip("/") for p in prefixes)

    @web.middleware
    async def middleware(request: web.Request, handler: Handler) -> web.StreamResponse:
        path = request.path
        prefix = next((p for p in lowered if path.lower().startswith(p + "/")), None)
        if prefix is None:
            return await handler(request)
        operation = client_operation(request.method, path[len(prefix):])
        invocation_id = invocation_id_header(request) if operation else None
        response = await handler(request)
        if operation is not None and invocation_id is not None:
            kind, instance_id = operation
            if kind == "StartOrchestration" and not instance_id:
                instance_id = _started_id(response)
            # Logged in the request's Activity: the caller's trace (its `traceparent`).
            tracking.client_operation_received(kind, instance_id, invocation_id,
                                               request.headers.get("traceparent", ""))
        return response

    return middleware


def _started_id(response: web.StreamResponse) -> str:
    body = getattr(response, "body", None)
    try:
        payload = json.loads(body) if isinstance(body, bytes | str) else None
    except ValueError:
        payload = None
    return str(payload.get("id", "")) if isinstance(payload, dict) else ""
