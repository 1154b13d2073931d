"""An app that answers with the traceparent the host handed it in context.trace_context:
from an HTTP function, and from an activity (through an orchestration)."""

from __future__ import annotations

import azure.durable_functions as df
import azure.functions as func

app = df.DFApp(http_auth_level=func.AuthLevel.ANONYMOUS)


@app.route(route="trace-context", methods=["GET"])
def trace_context(req: func.HttpRequest, context: func.Context) -> func.HttpResponse:
    return func.HttpResponse(context.trace_context.trace_parent)


@app.activity_trigger(input_name="unused")
def activity_trace_context(unused: str, context: func.Context) -> str:
    return str(context.trace_context.trace_parent)


@app.orchestration_trigger(context_name="context")
def trace_flags(context: df.DurableOrchestrationContext):
    return (yield context.call_activity("activity_trace_context", ""))
