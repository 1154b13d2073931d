"""Durable tracing V2 spans for entity operations, as DurableTask.Core emits them
(`TraceHelper.StartActivityForCallingOrSignalingEntity` and
`StartActivityForProcessingEntityInvocation`).

Both are named `entity:<entity name>:<operation>` (`CreateEntitySpanName`), with
`durabletask.type` = `entity`, `durabletask.task.operation` = `call_entity` /
`signal_entity` and `durabletask.event.target_instance_id` = the entity's scheduler id. The
caller's span is CLIENT for a call and PRODUCER for a signal, child of the calling
orchestration's span and starting when the request was made; the entity's span is SERVER for
a call and CONSUMER for a signal, child of the caller's span. devhost emits both once, when
the entity commits the batch, so replays never duplicate them.
"""

from __future__ import annotations

import logging
from datetime import datetime
from typing import Any

from opentelemetry import trace
from opentelemetry.trace import (
    NonRecordingSpan,
    SpanContext,
    SpanKind,
    Status,
    StatusCode,
    TraceFlags,
    TraceState,
)

from .schema import ENTITY, INSTANCE_ID, OPERATION, TYPE
from .schema import ENTITY_ERROR_MESSAGE as ERROR_MESSAGE
from .schema import EVENT_TARGET_INSTANCE_ID as TARGET

TRACE_KEY = "devhostTrace"  # the caller's context, carried in the request message

log = logging.getLogger("devhost.durable")


def caller_context(trace_id: str | None, span_id: str | None, trace_state: str | None,
                   sampled: bool) -> dict[str, Any] | None:
    if not trace_id or not span_id:
        return None
    return {"traceId": trace_id, "spanId": span_id, "traceState": trace_state,
            "sampled": sampled}


def from_traceparent(traceparent: str | None, tracestate: str | None) -> dict[str, Any] | None:
    parts = (traceparent or "").split("-")
    if len(parts) != 4 or len(parts[1]) != 32 or len(parts[2]) != 16:
        return None
    return {"traceId": parts[1], "spanId": parts[2], "traceState": tracestate,
            "sampled": parts[3] == "01"}


def _parent(ctx: dict[str, Any]) -> Any:
    state = TraceState.from_header([ctx["traceState"]]) if ctx.get("traceState") else None
    span_context = SpanContext(int(ctx["traceId"], 16), int(ctx["spanId"], 16), is_remote=True,
                               trace_flags=TraceFlags(TraceFlags.SAMPLED if ctx.get("sampled")
                                                      else 0),
                               trace_state=state)
    return trace.set_span_in_context(NonRecordingSpan(span_context))


class EntityTracer:
    """Emits through the engine's host tracer provider, so entity spans are on exactly when
    the other V2 spans are (host.json's V2 switch and a connection string)."""

    def __init__(self, provider: trace.TracerProvider) -> None:
        self._tracer = provider.get_tracer("DurableTask.Core")

    def operation(self, *, entity_name: str, scheduler_id: str, op: str, signal: bool,
                  caller: dict[str, Any] | None, requested_at: datetime | None,
                  started: datetime, ended: datetime, error: str | None) -> None:
        if caller is None:
            return
        try:
            self._emit(entity_name, scheduler_id, op, signal, caller, requested_at, started,
                       ended, error)
        except Exception:  # telemetry must never break the engine
            log.exception("could not emit entity spans")

    def _emit(self, entity_name: str, scheduler_id: str, op: str, signal: bool,
              caller: dict[str, Any], requested_at: datetime | None, started: datetime,
              ended: datetime, error: str | None) -> None:
        name = f"entity:{entity_name}:{op}"
        attributes = {TYPE: ENTITY, OPERATION: "signal_entity" if signal else "call_entity",
                      TARGET: scheduler_id}
        begin = requested_at or started
        outer = self._tracer.start_span(
            name, context=_parent(caller), kind=SpanKind.PRODUCER if signal else SpanKind.CLIENT,
            start_time=_ns(begin), attributes=attributes)
        inner = self._tracer.start_span(
            name, context=trace.set_span_in_context(outer),
            kind=SpanKind.CONSUMER if signal else SpanKind.SERVER, start_time=_ns(started),
            attributes={**attributes, INSTANCE_ID: scheduler_id})
        if error is not None:
            inner.set_attribute(ERROR_MESSAGE, error)
            inner.set_status(Status(StatusCode.ERROR, error))
            if not signal:
                outer.set_status(Status(StatusCode.ERROR, error))
        inner.end(end_time=_ns(ended))
        outer.end(end_time=_ns(ended if not signal else begin))


def _ns(ts: datetime) -> int:
    return int(ts.timestamp() * 1e9)
