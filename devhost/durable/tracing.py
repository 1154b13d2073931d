"""Durable distributed tracing V2, as DurableTask.Core emits it.

Matched against Azure/durabletask at 5217032 (DurableTask.Core `Tracing/TraceHelper.cs`,
`Tracing/Schema.cs`, `Tracing/TraceActivityConstants.cs`, `TaskOrchestrationDispatcher.cs`,
`TaskActivityDispatcher.cs`, `TaskHubClient.cs`) and the listener that turns those spans into
rows, `DurableTask.ApplicationInsights/DurableTelemetryModule.cs`:

- `create_orchestration:<name>` PRODUCER when a client starts an orchestration
  (`StartActivityForNewOrchestration`), parent = the caller's context;
- `orchestration:<name>` SERVER, parent = that PRODUCER (or the scheduling orchestration's
  CLIENT span for a sub-orchestration). One span per instance: its id is stored with the
  instance, it starts at the first episode (`ActivityStartTime`) and is stopped only when
  the orchestration completes (`StartTraceActivityForOrchestrationExecution`,
  `ResetDistributedTraceActivity`); continue-as-new keeps it;
- `activity:<name>` CLIENT from the scheduling orchestration, with the client span id chosen
  at scheduling, emitted when the result is processed and back-dated to TaskScheduled
  (`StartTraceActivityForSchedulingTask`), and the `activity:<name>` SERVER span beneath it
  around the invocation (`StartTraceActivityForTaskExecution`);
- `orchestration:<child>` CLIENT for sub-orchestrations
  (`CreateTraceActivityForSchedulingSubOrchestration`), `orchestration:<name>:timer`
  INTERNAL (`EmitTraceActivityForTimer`), `orchestration_event:<event>` PRODUCER for raised
  events (`StartActivityForNewEventRaisedFromClient`).

The listener samples AllData whatever the caller's flag says (`DurableTelemetryModule`
`Sample`), and a span's flag is inherited from its parent, so the flag the caller sent travels
unchanged down the tree to the invocations. Nothing here runs during replay: every span is
emitted by the engine after the episode that caused it was committed.
"""

from __future__ import annotations

import contextvars
import hashlib
import logging
import random
import time
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from datetime import datetime
from typing import TYPE_CHECKING, Any

from opentelemetry import trace
from opentelemetry.sdk.trace.id_generator import IdGenerator
from opentelemetry.trace import (
    NonRecordingSpan,
    SpanContext,
    SpanKind,
    Status,
    StatusCode,
    TraceFlags,
    TraceState,
)

from devhost.durable.history import RuntimeStatus
from devhost.durable.schema import (
    ACTIVITY,
    CREATE_ORCHESTRATION,
    ENTITY,
    ENTITY_ERROR_MESSAGE,
    EVENT,
    EVENT_TARGET_INSTANCE_ID,
    EXECUTION_ID,
    FIRE_AT,
    INSTANCE_ID,
    OPERATION,
    ORCHESTRATION,
    ORCHESTRATION_EVENT,
    STATUS,
    TASK_ID,
    TASK_NAME,
    TIMER,
    TYPE,
    VERSION,
)
from devhost.host.telemetry import function_result_tags
from devhost.host.tracecontext import parse_traceparent

if TYPE_CHECKING:
    from devhost.durable.store import Instance

log = logging.getLogger("devhost.durable")
_pinned: contextvars.ContextVar[tuple[int, int] | None] = contextvars.ContextVar(
    "devhost_pinned_ids", default=None)


def tracing_v2_enabled(durable_task: dict[str, Any]) -> bool:
    """host.json `extensions.durableTask.tracing`: DurableTaskOptions.Tracing binds
    `distributedTracingEnabled` (default false) and `version` (DurableDistributedTracingVersion,
    parsed case-insensitively like every .NET configuration key and enum)."""
    tracing = {str(k).lower(): v for k, v in (_ci(durable_task, "tracing") or {}).items()}
    enabled = str(tracing.get("distributedtracingenabled", False)).lower() == "true"
    return enabled and str(tracing.get("version", "")).lower() == "v2"


def _ci(mapping: dict[str, Any], key: str) -> Any:
    return next((v for k, v in mapping.items() if str(k).lower() == key.lower()), None)


def span_name(description: str, name: str, version: str | None = None) -> str:
    """TraceHelper.CreateSpanName: `<description>:<name>[@(<version>)]`."""
    return f"{description}:{name}@({version})" if version else f"{description}:{name}"


def timer_span_name(orchestration: str) -> str:
    """TraceHelper.CreateTimerSpanName."""
    return f"{ORCHESTRATION}:{orchestration}:{TIMER}"


@dataclass(frozen=True)
class TraceParent:
    """A W3C context as the Durable store keeps it (DistributedTraceContext)."""

    trace_id: str
    span_id: str
    sampled: bool = True
    state: str | None = None

    @property
    def header(self) -> str:
        return f"00-{self.trace_id}-{self.span_id}-{'01' if self.sampled else '00'}"

    def child(self, span_id: str) -> TraceParent:
        return TraceParent(self.trace_id, span_id, self.sampled, self.state)

    @staticmethod
    def parse(traceparent: str | None, tracestate: str | None = None) -> TraceParent | None:
        """The caller's context, or None when its `traceparent` names none (the
        propagator's rules, devhost/host/tracecontext.py); `tracestate` is kept as sent."""
        parsed = parse_traceparent(traceparent)
        if parsed is None:
            return None
        return TraceParent(parsed.trace_id, parsed.span_id, parsed.sampled, tracestate or None)


def orchestration_context(inst: Instance) -> TraceParent | None:
    """The orchestration's SERVER span, as its instance row keeps it."""
    if not (inst.trace_id and inst.span_id):
        return None
    return TraceParent(inst.trace_id, inst.span_id, inst.sampled, inst.trace_state)


def current_activity_tags(kind: str, name: str, instance_id: str) -> dict[str, str]:
    """The string tags of the DurableTask.Core Activity that is Activity.Current while the
    function runs, which the host copies into `trace_context.attributes`
    (WorkerFunctionInvoker: `Activity.Current?.Tags`): TraceHelper.StartTraceActivityFor
    OrchestrationExecution / StartTraceActivityForTaskExecution set the type, name and
    instance id; the task id is an int tag, which `Activity.Tags` leaves out."""
    return {TYPE: kind, TASK_NAME: name, INSTANCE_ID: instance_id}


def random_span_id() -> str:
    return f"{random.getrandbits(64) or 1:016x}"


def random_trace_id() -> str:
    return f"{random.getrandbits(128) or 1:032x}"


def client_span_id(trace_id: str, instance_id: str, execution_id: str, task_id: int) -> str:
    """The span id of the CLIENT span for task `task_id` of one execution.

    DurableTask.Core draws it at random when the task is scheduled and stores it in the
    TaskScheduled event / `ClientSpanId` (ProcessScheduleTaskDecision,
    ProcessCreateSubOrchestrationInstanceDecision). Derived from the same coordinates here,
    so the activity worker, a restarted host and the completion all find the same id without
    another column to keep in step.
    """
    digest = hashlib.sha256(f"{trace_id}/{instance_id}/{execution_id}/{task_id}".encode())
    return digest.hexdigest()[:16] if int(digest.hexdigest()[:16], 16) else "0" * 15 + "1"


def _ns(ts: datetime) -> int:
    return int(ts.timestamp() * 1e9)


def _context(parent: TraceParent | None) -> Any:
    if parent is None:
        return None
    ctx = SpanContext(int(parent.trace_id, 16), int(parent.span_id, 16), is_remote=True,
                      trace_flags=TraceFlags(TraceFlags.SAMPLED if parent.sampled else 0),
                      trace_state=TraceState.from_header([parent.state]) if parent.state
                      else None)
    return trace.set_span_in_context(NonRecordingSpan(ctx))


class _PinnedIdGenerator(IdGenerator):
    """Lets the host tracer reuse span ids the durable store already holds."""

    def __init__(self, fallback: Any) -> None:
        self._fallback = fallback

    def is_trace_id_random(self) -> bool:
        return True  # stored ids were drawn at random too

    def generate_span_id(self) -> int:
        pinned = _pinned.get()
        return pinned[1] if pinned else int(self._fallback.generate_span_id())

    def generate_trace_id(self) -> int:
        pinned = _pinned.get()
        return pinned[0] if pinned else int(self._fallback.generate_trace_id())


@dataclass
class Invocation:
    """What the host hands one invocation: its trace context, and (set by the invoker) the
    invocation id the worker sees, for the row's InvocationId."""

    traceparent: str
    tracestate: str
    invocation_id: str | None = None
    # Activity.Current's tags (None: no DurableTask Activity; the host's default applies).
    attributes: dict[str, str] | None = None
    # Set by the invoker when the function failed: the span records it as it ends.
    failure: BaseException | None = None


@dataclass(frozen=True)
class Outcome:
    """How a finished task or orchestration ended, for its span's status."""

    ok: bool
    description: str | None = None


class HostTracer:
    """Emits the V2 spans; `enabled` is host.json's V2 switch AND a connection string."""

    def __init__(self, enabled: bool = False,
                 provider: trace.TracerProvider | None = None) -> None:
        self.enabled = enabled
        if provider is None:
            from devhost.host.telemetry import host_tracer_provider

            provider = host_tracer_provider()
        self.provider = provider
        original = getattr(provider, "id_generator", None)
        if original is not None:
            # Tracers capture the generator when created: swap it in for ours only.
            provider.id_generator = _PinnedIdGenerator(original)  # type: ignore[attr-defined]
            try:
                self._tracer = provider.get_tracer("DurableTask.Core")
            finally:
                provider.id_generator = original  # type: ignore[attr-defined]
        else:
            self._tracer = provider.get_tracer("DurableTask.Core")

    def _emit(self, name: str, kind: SpanKind, parent: TraceParent | None,
              attributes: dict[str, Any], start: datetime, end: datetime,
              outcome: Outcome | None = None, pinned: TraceParent | None = None) -> None:
        if not self.enabled:
            return
        token = _pinned.set((int(pinned.trace_id, 16), int(pinned.span_id, 16))
                            if pinned else None)
        try:
            span = self._tracer.start_span(name, context=_context(parent), kind=kind,
                                           start_time=_ns(start), attributes=attributes)
        except Exception:  # telemetry must never break the engine
            log.exception("could not start span %s", name)
            return
        finally:
            _pinned.reset(token)
        if outcome is not None:
            span.set_status(Status(StatusCode.OK) if outcome.ok
                            else Status(StatusCode.ERROR, outcome.description))
            if outcome.description is not None:
                # DurableTelemetryModule.CreateTelemetry copies the description to this key.
                span.set_attribute("otel.status_description", outcome.description)
        span.end(end_time=_ns(max(end, start)))

    def entity_operation(self, *, entity_name: str, scheduler_id: str, op: str, signal: bool,
                         caller: TraceParent | None, requested_at: datetime | None,
                         started: datetime, ended: datetime, error: str | None) -> None:
        """An entity operation as DurableTask.Core traces it (TraceHelper.CreateEntitySpanName,
        `entity:<name>:<operation>`): StartActivityForCallingOrSignalingEntity under the
        caller (CLIENT for call_entity, PRODUCER for signal_entity), and
        StartActivityForProcessingEntityInvocation under that (SERVER / CONSUMER)."""
        if not self.enabled or caller is None:
            return
        try:
            name = f"entity:{entity_name}:{op}"
            attributes = {TYPE: ENTITY, OPERATION: "signal_entity" if signal else "call_entity",
                          EVENT_TARGET_INSTANCE_ID: scheduler_id}
            begin = requested_at or started
            outer = self._tracer.start_span(
                name, context=_context(caller),
                kind=SpanKind.PRODUCER if signal else SpanKind.CLIENT,
                start_time=_ns(begin), attributes=attributes)
            inner = self._tracer.start_span(
                name, context=trace.set_span_in_context(outer),
                kind=SpanKind.CONSUMER if signal else SpanKind.SERVER, start_time=_ns(started),
                attributes={**attributes, INSTANCE_ID: scheduler_id})
            if error is not None:
                inner.set_attribute(ENTITY_ERROR_MESSAGE, error)
                inner.set_status(Status(StatusCode.ERROR, error))
                if not signal:
                    outer.set_status(Status(StatusCode.ERROR, error))
            inner.end(end_time=_ns(ended))
            outer.end(end_time=_ns(ended if not signal else begin))
        except Exception:  # telemetry must never break the engine
            log.exception("could not emit entity spans")

    # -- client side -----------------------------------------------------------------
    def create_orchestration(self, *, name: str, instance_id: str, execution_id: str,
                             caller: TraceParent | None, producer: TraceParent,
                             start: datetime, end: datetime, version: str | None = None
                             ) -> None:
        """TaskHubClient → StartActivityForNewOrchestration: the PRODUCER span, with the id
        (`producer`) the new orchestration's SERVER span already stores as its parent."""
        attributes = {TYPE: ORCHESTRATION, TASK_NAME: name, INSTANCE_ID: instance_id,
                      EXECUTION_ID: execution_id}
        if version:
            attributes[VERSION] = version
        self._emit(span_name(CREATE_ORCHESTRATION, name, version), SpanKind.PRODUCER, caller,
                   attributes, start, end, pinned=producer)

    def orchestration_event(self, *, name: str, target_instance_id: str,
                            caller: TraceParent | None, at: datetime) -> None:
        """TaskHubClient.RaiseEventAsync → StartActivityForNewEventRaisedFromClient."""
        self._emit(span_name(ORCHESTRATION_EVENT, name), SpanKind.PRODUCER, caller,
                   {TYPE: EVENT, TASK_NAME: name, EVENT_TARGET_INSTANCE_ID: target_instance_id},
                   at, at)

    # -- orchestration side ------------------------------------------------------------
    def orchestration(self, *, name: str, instance_id: str, status: str,
                      span: TraceParent, parent: TraceParent | None, start: datetime,
                      end: datetime, failure: str | None = None,
                      version: str | None = None) -> None:
        """The orchestration's one SERVER span, at completion (SetOrchestrationActivityStatus
        then ResetDistributedTraceActivity). No execution id: the span outlives executions."""
        attributes = {TYPE: ORCHESTRATION, TASK_NAME: name, INSTANCE_ID: instance_id,
                      STATUS: status}
        if version:
            attributes[VERSION] = version
        if status in (RuntimeStatus.COMPLETED, RuntimeStatus.CONTINUED_AS_NEW):
            outcome = Outcome(True, status)
        elif status == RuntimeStatus.TERMINATED:
            outcome = Outcome(False, RuntimeStatus.TERMINATED)
        else:
            outcome = Outcome(False, failure or status)
        self._emit(span_name(ORCHESTRATION, name, version), SpanKind.SERVER, parent,
                   attributes, start, end, outcome, pinned=span)

    def task_client(self, *, name: str, instance_id: str, task_id: int, orchestration: TraceParent,
                    client_span: str, scheduled: datetime, end: datetime,
                    failure: str | None = None) -> None:
        """EmitTraceActivityForTaskCompleted / EmitTraceActivityForTaskFailed."""
        self._emit(span_name(ACTIVITY, name), SpanKind.CLIENT, orchestration,
                   {TYPE: ACTIVITY, TASK_NAME: name, INSTANCE_ID: instance_id, TASK_ID: task_id},
                   scheduled, end,
                   Outcome(False, failure or "Unspecified task activity failure")
                   if failure is not None else None,
                   pinned=orchestration.child(client_span))

    def sub_orchestration_client(self, *, name: str, parent_instance_id: str,
                                 orchestration: TraceParent, client_span: str,
                                 created: datetime, end: datetime,
                                 failure: str | None = None, version: str | None = None
                                 ) -> None:
        """EmitTraceActivityForSubOrchestrationCompleted / …Failed. Its instance id tag is the
        scheduling (parent) orchestration's, as CreateTraceActivityForSchedulingSubOrchestration
        sets it; the name and version tag carry the child's version when it has one."""
        attributes: dict[str, Any] = {TYPE: ORCHESTRATION, TASK_NAME: name,
                                      INSTANCE_ID: parent_instance_id}
        if version:
            attributes[VERSION] = version
        self._emit(span_name(ORCHESTRATION, name, version), SpanKind.CLIENT, orchestration,
                   attributes, created, end,
                   Outcome(False, failure or "Unspecified sub-orchestration failure")
                   if failure is not None else None,
                   pinned=orchestration.child(client_span))

    def timer(self, *, orchestration_name: str, instance_id: str, timer_id: int,
              fire_at: str, orchestration: TraceParent, created: datetime,
              end: datetime) -> None:
        """EmitTraceActivityForTimer: from the TimerFired message's creation to its
        processing."""
        self._emit(timer_span_name(orchestration_name), SpanKind.INTERNAL, orchestration,
                   {TYPE: TIMER, TASK_NAME: orchestration_name, INSTANCE_ID: instance_id,
                    FIRE_AT: fire_at, TASK_ID: timer_id}, created, end)

    # -- activity worker ---------------------------------------------------------------
    @contextmanager
    def activity(self, *, name: str, instance_id: str, task_id: int,
                 client: TraceParent | None) -> Iterator[Invocation]:
        """The SERVER span around one activity attempt (TaskActivityDispatcher); yields the
        trace context the host hands the invocation (it is Activity.Current there, so the
        worker's `context.trace_context` is this span). The span is OK "Completed" or Error
        with the exception's message, as the dispatcher sets it, and carries the function
        result tags the WebJobs logger stamps on the current Activity."""
        if not self.enabled or client is None:
            # No listener: no DurableTask span, so the host's invocation starts a trace of
            # its own, unsampled like an Activity nobody recorded.
            yield Invocation(TraceParent(random_trace_id(), random_span_id(), False).header, "")
            return
        try:
            span = self._tracer.start_span(
                span_name(ACTIVITY, name), context=_context(client), kind=SpanKind.SERVER,
                attributes={TYPE: ACTIVITY, TASK_NAME: name, INSTANCE_ID: instance_id,
                            TASK_ID: task_id})
        except Exception:  # telemetry must never fail an activity
            log.exception("could not start activity span")
            yield Invocation(client.header, client.state or "")
            return
        own = client.child(f"{span.get_span_context().span_id:016x}")
        invocation = Invocation(own.header, client.state or "",
                                attributes=current_activity_tags(ACTIVITY, name, instance_id))
        started = time.perf_counter()

        def finish(error: BaseException | None) -> None:
            span.set_attributes(function_result_tags(
                name, invocation.invocation_id, (time.perf_counter() - started) * 1000,
                error is None))
            description = "Completed" if error is None else str(error)
            span.set_status(Status(StatusCode.OK) if error is None
                            else Status(StatusCode.ERROR, description))
            span.set_attribute("otel.status_description", description)
            span.end()

        # The WebJobs logger's LogFunctionResult logs a failure as an exceptions row under
        # the current Activity (this span): the invoker writes it (devhost/host/logs.py
        # function_result_failed), with the exception the host holds.
        try:
            yield invocation
        except BaseException as exc:
            invocation.failure = exc
            raise
        finally:
            finish(invocation.failure)
