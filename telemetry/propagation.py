"""W3C trace context in and out of carriers, with OpenTelemetry's own propagator."""

from __future__ import annotations

from typing import Any

from opentelemetry import context as otel_context
from opentelemetry import trace
from opentelemetry.trace.propagation.tracecontext import TraceContextTextMapPropagator

_PROPAGATOR = TraceContextTextMapPropagator()


def capture(ctx: otel_context.Context | None = None) -> dict[str, str]:
    """The current (or given) span context as a `traceparent`/`tracestate` carrier."""
    carrier: dict[str, str] = {}
    _PROPAGATOR.inject(carrier, context=ctx)
    return carrier


def extract(carrier: dict[str, str] | None) -> otel_context.Context | None:
    """A context whose current span is the carrier's, or None for an empty/invalid one."""
    if not carrier:
        return None
    ctx = _PROPAGATOR.extract(carrier)
    return ctx if trace.get_current_span(ctx).get_span_context().is_valid else None


def from_function_context(function_context: Any) -> otel_context.Context | None:
    """The host's invocation context (`context.trace_context`) the worker hands a function."""
    trace_context = getattr(function_context, "trace_context", None)
    if trace_context is None:
        return None
    carrier = {"traceparent": getattr(trace_context, "trace_parent", "") or ""}
    trace_state = getattr(trace_context, "trace_state", "") or ""
    if trace_state:  # an empty header means none; the propagator would still parse it
        carrier["tracestate"] = trace_state
    return extract(carrier)


def in_trace(carrier: dict[str, str], span_context: trace.SpanContext | None) -> bool:
    """Whether the carrier's `traceparent` names `span_context`'s trace, read as text: the
    trace-id field of the W3C header (`version-traceid-parentid-flags`, lowercase hex), which
    is all a caller comparing trace ids needs, without building a context."""
    if span_context is None:
        return False
    fields = carrier.get("traceparent", "").strip().split("-")
    return len(fields) >= 4 and fields[1] == format(span_context.trace_id, "032x")


def span_context_of(ctx: otel_context.Context | None) -> trace.SpanContext | None:
    if ctx is None:
        return None
    span_context = trace.get_current_span(ctx).get_span_context()
    return span_context if span_context.is_valid else None
