"""An app for the worker tests: plain `logging`, its own OpenTelemetry exporter, a failing
HTTP function, and an activity that says which worker process ran it."""

from __future__ import annotations

import logging
import os

import azure.durable_functions as df
import azure.functions as func
from azure.monitor.opentelemetry.exporter import AzureMonitorTraceExporter
from opentelemetry import trace
from opentelemetry.sdk.resources import Resource
from opentelemetry.sdk.trace import TracerProvider
from opentelemetry.sdk.trace.export import SimpleSpanProcessor
from opentelemetry.trace.propagation.tracecontext import TraceContextTextMapPropagator
from worker_app_vendor import MARKER  # from .python_packages/lib/site-packages, as on Azure

_provider = TracerProvider(resource=Resource.create({"service.name": "worker-app"}))
_provider.add_span_processor(SimpleSpanProcessor(AzureMonitorTraceExporter(
    connection_string=os.environ["APPLICATIONINSIGHTS_CONNECTION_STRING"])))
trace.set_tracer_provider(_provider)
_tracer = trace.get_tracer("worker_app")

app = df.DFApp(http_auth_level=func.AuthLevel.ANONYMOUS)


@app.activity_trigger(input_name="name")
def plain_log(name: str) -> str:
    logging.info("plain log line from %s", name)
    return name


@app.activity_trigger(input_name="name")
def spans(name: str, context: func.Context) -> str:
    """One span parented only through context.trace_context, one relying on the current
    span (there is none in the worker's thread: on Azure that is an orphan trace)."""
    carrier = {"traceparent": context.trace_context.trace_parent,
               "tracestate": context.trace_context.trace_state}
    parent = TraceContextTextMapPropagator().extract(carrier)
    with _tracer.start_as_current_span("user_span:with_trace_context", context=parent):
        pass
    with _tracer.start_as_current_span("user_span:current_span_only"):
        pass
    return name


@app.activity_trigger(input_name="name")
def activity_tags(name: str, context: func.Context) -> dict[str, str]:
    """The host's Activity tags, as the worker got them in trace_context.attributes."""
    return dict(context.trace_context.attributes)


@app.orchestration_trigger(context_name="context")
def tags(context: df.DurableOrchestrationContext):
    return (yield context.call_activity("activity_tags", "tags"))


@app.activity_trigger(input_name="value")
def which_process(value: int) -> int:
    import time

    time.sleep(0.05)  # long enough for invocations to overlap and spread
    return os.getpid()


@app.orchestration_trigger(context_name="context")
def logs_and_spans(context: df.DurableOrchestrationContext):
    yield context.call_activity("plain_log", "worker-test")
    yield context.call_activity("spans", "worker-test")
    return f"done:{MARKER}"


@app.orchestration_trigger(context_name="context")
def spread(context: df.DurableOrchestrationContext):
    pids = yield context.task_all([context.call_activity("which_process", i)
                                   for i in range(16)])
    return sorted(set(pids))


@app.route(route="boom", methods=["GET"])
def boom(req: func.HttpRequest) -> func.HttpResponse:
    raise RuntimeError("kaboom from the user's code")


@app.function_name("no_return")
@app.generic_trigger(arg_name="req", type="httpTrigger", route="no-return", methods=["GET"])
def no_return(req: func.HttpRequest) -> str:
    """Returns a value but declares no $return binding: the worker fails the invocation."""
    return "a value"
