"""Host-side spans, shaped like Durable Functions distributed tracing V2.

`orchestration:<name>` (SERVER) is emitted once per instance, when it ends, back-dated to its
creation, with the span id chosen when the instance was created and stored with it — so
every activity and child that ran under it (even across a devhost restart) points at the
same parent, and replays never emit anything. `activity:<name>` (SERVER) wraps each activity
attempt. Both go through whatever TracerProvider the app configured, like the real host's
rows land in the same Application Insights resource.
"""

from __future__ import annotations

import contextvars
import logging
import random
from collections.abc import Iterator
from contextlib import contextmanager
from datetime import datetime
from typing import Any

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
from opentelemetry.trace.propagation.tracecontext import TraceContextTextMapPropagator

from ..hosttelemetry import host_tracer_provider

# Keys of Durable Task's tracing schema (DurableTask.Core/Tracing/Schema.cs).
TYPE = "durabletask.type"
TASK_NAME = "durabletask.task.name"
INSTANCE_ID = "durabletask.task.instance_id"
EXECUTION_ID = "durabletask.task.execution_id"
STATUS = "durabletask.task.status"
TASK_ID = "durabletask.task.task_id"

_PROPAGATOR = TraceContextTextMapPropagator()
log = logging.getLogger("devhost.durable")
_pinned: contextvars.ContextVar[tuple[int, int] | None] = contextvars.ContextVar(
    "devhost_pinned_ids", default=None)


class _PinnedIdGenerator(IdGenerator):
    """Lets devhost's own tracer reuse ids stored in the durable store."""

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


def new_ids(parent_traceparent: str | None = None, parent_tracestate: str | None = None
            ) -> tuple[str, str, str | None, str | None, bool]:
    """Ids for a new orchestration span: (trace_id, span_id, parent_span_id, tracestate,
    sampled). The caller's sampling decision is kept so a run is exported whole or not."""
    span_id = f"{random.getrandbits(64) or 1:016x}"
    if parent_traceparent:
        carrier = {"traceparent": parent_traceparent, "tracestate": parent_tracestate or ""}
        parent = trace.get_current_span(_PROPAGATOR.extract(carrier)).get_span_context()
        if parent.is_valid:
            return (f"{parent.trace_id:032x}", span_id, f"{parent.span_id:016x}",
                    parent_tracestate, parent.trace_flags.sampled)
    return f"{random.getrandbits(128) or 1:032x}", span_id, None, None, True


def _context(trace_id: str, span_id: str, tracestate: str | None, sampled: bool = True) -> Any:
    ctx = SpanContext(int(trace_id, 16), int(span_id, 16), is_remote=True,
                      trace_flags=TraceFlags(TraceFlags.SAMPLED if sampled else 0),
                      trace_state=TraceState.from_header([tracestate]) if tracestate else None)
    return trace.set_span_in_context(NonRecordingSpan(ctx))


def traceparent_of(trace_id: str, span_id: str, sampled: bool = True) -> str:
    return f"00-{trace_id}-{span_id}-{'01' if sampled else '00'}"


class HostTracer:
    def __init__(self) -> None:
        provider = host_tracer_provider()
        original = getattr(provider, "id_generator", None)
        if original is not None:
            # Tracers capture the generator when created: swap it in for ours only.
            provider.id_generator = _PinnedIdGenerator(original)  # type: ignore[attr-defined]
            try:
                self._tracer = provider.get_tracer("devhost.durable")
            finally:
                provider.id_generator = original  # type: ignore[attr-defined]
        else:
            self._tracer = provider.get_tracer("devhost.durable")

    def orchestration_completed(self, *, name: str, instance_id: str, execution_id: str,
                                status: str, trace_id: str, span_id: str,
                                parent_span_id: str | None, tracestate: str | None,
                                start: datetime, end: datetime, error: str | None,
                                sampled: bool = True) -> None:
        parent = (_context(trace_id, parent_span_id, tracestate, sampled) if parent_span_id
                  else None)
        token = _pinned.set((int(trace_id, 16), int(span_id, 16)))
        try:
            span = self._tracer.start_span(
                f"orchestration:{name}", context=parent, kind=SpanKind.SERVER,
                start_time=int(start.timestamp() * 1e9),
                attributes={TYPE: "orchestration", TASK_NAME: name, INSTANCE_ID: instance_id,
                            EXECUTION_ID: execution_id, STATUS: status})
        finally:
            _pinned.reset(token)
        if status != "Completed":
            span.set_status(Status(StatusCode.ERROR, error or status))
        span.end(end_time=int(end.timestamp() * 1e9))

    @contextmanager
    def activity(self, *, name: str, instance_id: str, task_id: int, trace_id: str,
                 span_id: str, tracestate: str | None, sampled: bool = True
                 ) -> Iterator[dict[str, str]]:
        """Span around one activity attempt; yields the W3C carrier for the invocation."""
        fallback = {"traceparent": traceparent_of(trace_id, span_id, sampled)} if trace_id else {}
        try:
            span = self._tracer.start_span(
                f"activity:{name}", context=_context(trace_id, span_id, tracestate, sampled),
                kind=SpanKind.SERVER,
                attributes={TYPE: "activity", TASK_NAME: name, INSTANCE_ID: instance_id,
                            TASK_ID: task_id})
        except Exception:  # telemetry must never fail an activity
            log.exception("could not start activity span")
            yield fallback
            return
        with trace.use_span(span, end_on_exit=True, record_exception=True,
                            set_status_on_exception=True):
            carrier: dict[str, str] = {}
            _PROPAGATOR.inject(carrier)
            yield carrier if span.get_span_context().is_valid else fallback
