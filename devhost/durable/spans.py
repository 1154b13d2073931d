"""Durable tracing V2 hooks of the dispatcher (DurableTask.Core TaskOrchestrationDispatcher):
which spans an episode's commit and an orchestration's end emit, through the HostTracer in
tracing.py. Called after the commit, never during replay."""

from __future__ import annotations

import logging
from datetime import datetime

from devhost.durable.dispatcher import EngineOptions
from devhost.durable.history import (
    FAILURES,
    Event,
    EventType,
    RuntimeStatus,
    json_or_none,
    utcnow,
)
from devhost.durable.store import Instance
from devhost.durable.tracing import (
    HostTracer,
    TraceParent,
    client_span_id,
    orchestration_context,
    random_trace_id,
)
from devhost.host.telemetry import host_connection_string, otlp_export_only

log = logging.getLogger("devhost.durable")


def v2_tracing_active(options: EngineOptions) -> bool:
    """TelemetryActivator.Initialize: V2 rows need host.json's V2 switch, and they only
    reach Application Insights when a connection string (or key) is configured. In
    telemetryMode OpenTelemetry with an OTLP endpoint the host's own tracer provider listens
    to `DurableTask.*` (azure-functions-host #11136), and DurableTask.Core starts its spans for
    any listener, whatever the extension's switch (TraceHelper.cs, Azure/durabletask 5217032)."""
    return (options.tracing_v2 and bool(host_connection_string())) or otlp_export_only()


def task_client_context(inst: Instance, task_id: int) -> TraceParent:
    """The CLIENT span an activity or sub-orchestration scheduled as `task_id` runs under."""
    trace_id = inst.trace_id or random_trace_id()
    return TraceParent(trace_id, client_span_id(trace_id, inst.instance_id, inst.execution_id,
                                                task_id), inst.sampled, inst.trace_state)


def emit_result_spans(tracer: HostTracer, inst: Instance, history: list[Event],
                      delivered: list[Event], now: datetime) -> None:
    """ReconcileMessagesWithState: one CLIENT span per processed task/sub-orchestration
    result and one INTERNAL span per fired timer, back-dated to when it was scheduled."""
    orchestration = orchestration_context(inst)
    if orchestration is None or not tracer.enabled:
        return
    try:
        # What each result answers, looked up by (type, EventId): built once per episode,
        # not searched for per result (a fan-in delivers hundreds).
        scheduled_by_id = {(e["EventType"], e.get("EventId")): e for e in history
                           if e["EventType"] in (EventType.TASK_SCHEDULED,
                                                 EventType.SUB_ORCHESTRATION_CREATED)}
        for ev in delivered:
            kind = ev["EventType"]
            failure = (ev.get("Reason") or "") if kind in FAILURES else None
            if kind in (EventType.TASK_COMPLETED, EventType.TASK_FAILED):
                scheduled = scheduled_by_id.get((EventType.TASK_SCHEDULED,
                                                 ev["TaskScheduledId"]))
                if scheduled is not None:
                    tracer.task_client(
                        name=scheduled["Name"], instance_id=inst.instance_id,
                        task_id=scheduled["EventId"], orchestration=orchestration,
                        client_span=task_client_context(inst, scheduled["EventId"]).span_id,
                        scheduled=datetime.fromisoformat(scheduled["Timestamp"]), end=now,
                        failure=failure)
            elif kind in (EventType.SUB_ORCHESTRATION_COMPLETED,
                          EventType.SUB_ORCHESTRATION_FAILED):
                created = scheduled_by_id.get((EventType.SUB_ORCHESTRATION_CREATED,
                                               ev["TaskScheduledId"]))
                if created is not None:
                    tracer.sub_orchestration_client(
                        name=created["Name"], parent_instance_id=inst.instance_id,
                        orchestration=orchestration,
                        client_span=task_client_context(inst, created["EventId"]).span_id,
                        created=datetime.fromisoformat(created["Timestamp"]), end=now,
                        failure=failure, version=created.get("Version"))
            elif kind == EventType.TIMER_FIRED:
                tracer.timer(orchestration_name=inst.name, instance_id=inst.instance_id,
                             timer_id=ev["TimerId"], fire_at=ev["FireAt"],
                             orchestration=orchestration,
                             created=datetime.fromisoformat(ev["Timestamp"]), end=now)
    except Exception:  # telemetry must never break the engine
        log.exception("could not emit task spans")


def emit_orchestration_span(tracer: HostTracer, inst: Instance, version: str = "") -> None:
    """The SERVER span, named and tagged with the instance's version when it has one
    (TraceHelper.StartTraceActivityForOrchestrationExecution)."""
    span = orchestration_context(inst)
    if span is None or not tracer.enabled:
        return
    failure = None
    if inst.runtime_status == RuntimeStatus.FAILED:
        output = json_or_none(inst.output)
        failure = output if isinstance(output, str) else inst.output
    parent = span.child(inst.parent_span_id) if inst.parent_span_id else None
    try:
        tracer.orchestration(
            name=inst.name, instance_id=inst.instance_id, status=inst.runtime_status,
            span=span, parent=parent,
            start=datetime.fromisoformat(inst.trace_start or inst.created_time),
            end=utcnow(), failure=failure, version=version)
    except Exception:  # telemetry must never break the engine
        log.exception("could not emit orchestration span")
