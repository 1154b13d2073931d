"""A user's app that knows nothing of this repository: its own Azure Monitor exporters (as
`configure_azure_monitor()` would build them), one day-long timer, one activity with a span
(parented through context.trace_context, the only way on Azure) and a log, a setting read
at call time. Its host.json turns Durable's distributed tracing V2 on, as the recipe's does
(it is off unless host.json says so, TraceOptions). The plugin's tests run it in place
(test_fixture.py) or copy it into pytester projects; the install test copies it alone."""

import logging
import os
from datetime import timedelta

import azure.durable_functions as df
import azure.functions as func
from azure.monitor.opentelemetry.exporter import AzureMonitorLogExporter, AzureMonitorTraceExporter
from opentelemetry import _logs, trace
from opentelemetry.instrumentation.logging.handler import LoggingHandler
from opentelemetry.propagate import extract
from opentelemetry.sdk._logs import LoggerProvider
from opentelemetry.sdk._logs.export import BatchLogRecordProcessor
from opentelemetry.sdk.trace import TracerProvider
from opentelemetry.sdk.trace.export import BatchSpanProcessor
from opentelemetry.sdk.trace.sampling import ALWAYS_ON, ParentBased

connection_string = os.environ["APPLICATIONINSIGHTS_CONNECTION_STRING"]
# The host hands `context.trace_context` the caller's sampled flag, or 00 without a caller
# (a .NET Activity is never marked Recorded by the classic App Insights SDK), so a sampler
# that obeys a remote parent's flag would drop every span: decide afresh under remote parents.
spans = TracerProvider(sampler=ParentBased(ALWAYS_ON, remote_parent_not_sampled=ALWAYS_ON))
spans.add_span_processor(BatchSpanProcessor(
    AzureMonitorTraceExporter(connection_string=connection_string)))
trace.set_tracer_provider(spans)
records = LoggerProvider()
records.add_log_record_processor(BatchLogRecordProcessor(
    AzureMonitorLogExporter(connection_string=connection_string)))
_logs.set_logger_provider(records)
log = logging.getLogger("user_app")
log.setLevel(logging.INFO)
log.addHandler(LoggingHandler(logger_provider=records))
tracer = trace.get_tracer("user_app")

app = df.DFApp(http_auth_level=func.AuthLevel.ANONYMOUS)


@app.orchestration_trigger(context_name="context")
def greeter(context):
    yield context.create_timer(context.current_utc_datetime + timedelta(days=1))
    return (yield context.call_activity("greet", context.get_input()))


@app.activity_trigger(input_name="name")
def greet(name, context: func.Context):
    # The documented pattern: the host's span is never current in a sync function's thread,
    # so its context comes from context.trace_context.
    carrier = {"traceparent": context.trace_context.trace_parent,
               "tracestate": context.trace_context.trace_state}
    with tracer.start_as_current_span("greet", context=extract(carrier),
                                      attributes={"greeting.name": name}):
        log.info("greeting someone", extra={"who": name})
        return f"{os.environ.get('GREETING', 'hello')} {name}"


@app.orchestration_trigger(context_name="context")
def exploder(context):
    return (yield context.call_activity("explode", context.get_input()))


@app.activity_trigger(input_name="reason")
def explode(reason):
    raise ValueError(reason)
