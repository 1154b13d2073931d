"""The request row the WebJobs logger tracks for an invocation that brings no Activity.

ApplicationInsightsLogger.StartTelemetryIfFunctionInvocation (azure-webjobs-sdk f79ea0b,
src/Microsoft.Azure.WebJobs.Logging.ApplicationInsights/ApplicationInsightsLogger.cs): when a
function's scope begins with no current Activity (a Durable orchestrator episode or activity
with Durable distributed tracing V2 off, a trigger that starts none), the logger starts an
operation `StartOperation<RequestTelemetry>(functionName)` — a new trace, the function's
invocation under it — and `LogFunctionResult` stops it: a `requests` row named after the
function, `resultCode` "0" (WebJobsTelemetryInitializer.UpdateRequestProperties), `success`
the function's outcome, the function result tags in customDimensions, and the failure as an
`exceptions` row under the request (LogFunctionResult → LogException).
"""

from __future__ import annotations

import time
from collections.abc import Callable
from dataclasses import replace
from datetime import UTC, datetime

from opentelemetry.trace import SpanKind, Status, StatusCode

from devhost.host.channel import Invocation, Outcome, Workers
from devhost.host.logs import function_result_failed
from devhost.host.telemetry import (
    HTTP_STATUS,
    function_result_tags,
    host_tracer_provider,
    invocation_traceparent,
)

# What the WebJobs initializer sets when the row is not an HTTP request.
NON_HTTP_RESULT_CODE = 0


async def invoke_as_request(workers: Workers, invocation: Invocation,
                            on_invoke: Callable[[Invocation], None] | None = None) -> Outcome:
    """Invoke under a request row of the host's own; the worker's `trace_context` is that
    row (Activity.Current when the invoker reads `Activity.Current?.Id`). `on_invoke` sees
    the invocation as the worker gets it, once its scope begins. A lost worker fails the row
    and is raised on, for the caller to deliver the work again."""
    tracer = host_tracer_provider().get_tracer("Microsoft.Azure.WebJobs")
    name = invocation.fn.name
    with tracer.start_as_current_span(name, kind=SpanKind.SERVER,
                                      attributes={HTTP_STATUS: NON_HTTP_RESULT_CODE},
                                      record_exception=False,
                                      set_status_on_exception=False) as span:
        tracked = replace(invocation, traceparent=invocation_traceparent(span), tracestate="")
        started, began = time.perf_counter(), datetime.now(UTC)
        outcome: Outcome | None = None
        if on_invoke is not None:
            on_invoke(tracked)
        try:
            outcome = await workers.invoke(tracked)
        finally:
            ok = outcome is not None and outcome.ok
            span.set_attributes(function_result_tags(
                name, tracked.invocation_id, (time.perf_counter() - started) * 1000, ok))
            if not ok:
                error = outcome.error if outcome is not None else "the worker was lost"
                span.set_status(Status(StatusCode.ERROR, error))
                function_result_failed(name, tracked.invocation_id, error,
                                       outcome.stack_trace if outcome is not None else "",
                                       tracked.traceparent, began, datetime.now(UTC))
    return outcome
