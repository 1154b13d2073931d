"""overhead_ratio: an activity with our correlation telemetry ÷ a bare span + one log record
with the same attributes; both export to in-memory exporters in the same process."""

from __future__ import annotations

import logging
import statistics
import threading
from typing import Any

from azure_functions_runtime.bindings.context import Context
from azure_functions_runtime.bindings.retrycontext import RetryContext
from azure_functions_runtime.bindings.tracecontext import TraceContext
from opentelemetry import _logs, trace
from opentelemetry.instrumentation.logging.handler import LoggingHandler
from opentelemetry.sdk._logs.export import InMemoryLogRecordExporter
from opentelemetry.sdk.trace.export.in_memory_span_exporter import InMemorySpanExporter

import telemetry

SPANS = InMemorySpanExporter()
LOGS = InMemoryLogRecordExporter()
telemetry.configure(span_exporter=SPANS, log_exporter=LOGS)
LOG = telemetry.get_logger()
# The baseline logger has only the OpenTelemetry handler: none of our filters.
BARE_LOG = logging.getLogger("bench.bare")
BARE_LOG.propagate = False
BARE_LOG.setLevel(logging.INFO)
BARE_LOG.addHandler(LoggingHandler(logger_provider=_logs.get_logger_provider()))
TRACER = trace.get_tracer("bench.bare")
ROOT = "0123456789abcdef0123456789abcdef"
CORRELATION = telemetry.Correlation(
    root_instance_id=ROOT, parent_instance_id=ROOT, instance_id=f"{ROOT}:customer-sync",
    orchestration_name="customer_sync_sub_orchestrator", activity_name="sync_customer_profile",
    trace={"traceparent": f"00-{ROOT}-00f067aa0ba902b7-01"})
PAYLOAD = {"customer_id": "cust-1001", "customer_segment": "enterprise", "skus": ["A", "B"]}
# The context the worker runtime builds (bindings/context.py get_context).
CONTEXT = Context("sync_customer_profile", ".", "bench-invocation", threading.local(),
                  TraceContext(f"00-{ROOT}-00f067aa0ba902b7-01", "", {}),
                  RetryContext(0, 0, None))
ATTRIBUTES = {**CORRELATION.attributes(), telemetry.attributes.TYPE: "activity",
              telemetry.attributes.TASK_NAME: "sync_customer_profile",
              telemetry.attributes.INSTANCE_ID: f"{ROOT}:customer-sync",
              telemetry.attributes.ROLE: "activity"}


def _body(workflow_input: dict[str, Any]) -> dict[str, Any]:
    return {"step": "customer_sync", "customerId": workflow_input["customer_id"],
            "segment": workflow_input["customer_segment"], "status": "completed"}


@telemetry.activity
def instrumented(workflow_input: dict[str, Any], context: Any) -> dict[str, Any]:
    LOG.info("Synced customer profile", customer_id=workflow_input["customer_id"])
    return _body(workflow_input)


def bare(workflow_input: dict[str, Any]) -> dict[str, Any]:
    with TRACER.start_as_current_span("run_activity:sync_customer_profile",
                                      attributes=ATTRIBUTES):
        BARE_LOG.info("Synced customer profile",
                      extra={**ATTRIBUTES, "customer_id": workflow_input["customer_id"]})
        return _body(workflow_input)


def _median(benchmark: Any, fn: Any, *args: Any) -> float:
    def run() -> None:
        fn(*args)
        SPANS.clear()
        LOGS.clear()

    benchmark.pedantic(run, rounds=300, iterations=20, warmup_rounds=20)
    return float(statistics.median(benchmark.stats.stats.data))


def test_bare_span_and_log(benchmark: Any, results: dict[str, Any]) -> None:
    results["_bare_s"] = _median(benchmark, bare, PAYLOAD)


def test_instrumented_activity(benchmark: Any, results: dict[str, Any]) -> None:
    carrier = telemetry.wrap(CORRELATION, PAYLOAD)
    results["_instrumented_s"] = _median(benchmark, instrumented, carrier, CONTEXT)
    assert "_bare_s" in results, "run with test_bare_span_and_log first (file order)"
    results["overhead_ratio"] = round(results.pop("_instrumented_s") / results.pop("_bare_s"),
                                      3)
