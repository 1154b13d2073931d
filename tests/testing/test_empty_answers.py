"""A test that looks for a span or log the app never exported fails with what the run did
capture and, when only the host's rows arrived, the usual causes: no provider in the app, or
the SDK's default ParentBased sampler under the host's unsampled traceparent (flag 00)."""

from __future__ import annotations

import json

import pytest

HOST_JSON = {"version": "2.0", "extensions": {"durableTask": {"tracing": {
    "distributedTracingEnabled": True, "version": "V2"}}}}

# A user's app whose spans never reach App Insights: a provider with the SDK's default
# sampler, ParentBased(ALWAYS_ON), which obeys the host's flag 00 and drops them all.
APP = '''
import os

import azure.durable_functions as df
import azure.functions as func
from azure.monitor.opentelemetry.exporter import AzureMonitorTraceExporter
from opentelemetry import trace
from opentelemetry.propagate import extract
from opentelemetry.sdk.trace import TracerProvider
from opentelemetry.sdk.trace.export import SimpleSpanProcessor

provider = TracerProvider()
provider.add_span_processor(SimpleSpanProcessor(AzureMonitorTraceExporter(
    connection_string=os.environ["APPLICATIONINSIGHTS_CONNECTION_STRING"])))
trace.set_tracer_provider(provider)
tracer = trace.get_tracer("user_app")
app = df.DFApp(http_auth_level=func.AuthLevel.ANONYMOUS)


@app.orchestration_trigger(context_name="context")
def greeter(context):
    return (yield context.call_activity("greet", context.get_input()))


@app.activity_trigger(input_name="name")
def greet(name, context: func.Context):
    carrier = {"traceparent": context.trace_context.trace_parent}
    with tracer.start_as_current_span("greet", context=extract(carrier)):
        return f"hello {name}"
'''


def test_a_missing_span_is_explained_in_the_report(pytester: pytest.Pytester) -> None:
    pytester.makeini("[pytest]\n")
    (pytester.path / "function_app.py").write_text(APP, encoding="utf-8")
    (pytester.path / "host.json").write_text(json.dumps(HOST_JSON), encoding="utf-8")
    pytester.makepyfile(test_user="""
        def test_it(durable_app):
            run = durable_app.start("greeter", "ada")
            assert run.wait().runtime_status == "Completed"
            span, = run.spans("greet")
    """)
    result = pytester.runpytest()
    result.assert_outcomes(failed=1)
    out = result.stdout.str()
    assert "devhost: what the run did capture" in out
    assert "run.spans(name='greet') found nothing. The run captured" in out
    assert "activity:greet ×" in out  # the host's rows are listed by name
    assert "None of them is the app's own" in out and "ParentBased" in out
