"""Instrumentation takes `tracer_provider=` as OpenTelemetry's instrumentations do: spans go
to the provider passed, not to the global one."""

from __future__ import annotations

import asyncio
from types import SimpleNamespace
from typing import Any

import pytest
from opentelemetry import trace
from opentelemetry.sdk.trace import TracerProvider
from opentelemetry.sdk.trace.export import SimpleSpanProcessor
from opentelemetry.sdk.trace.export.in_memory_span_exporter import InMemorySpanExporter

from telemetry import Correlation, activity, activity_span, attributes, start_orchestration
from telemetry.correlation import wrap

CALLER = "00-0af7651916cd43dd8448eb211c80319c-b7ad6b7169203331-01"


def provider_with_memory() -> tuple[TracerProvider, InMemorySpanExporter]:
    exporter = InMemorySpanExporter()
    provider = TracerProvider()
    provider.add_span_processor(SimpleSpanProcessor(exporter))
    return provider, exporter


def host_context(traceparent: str, tracestate: str = "") -> Any:
    """What the worker hands a function as `context` (only what the helpers read)."""
    return SimpleNamespace(trace_context=SimpleNamespace(trace_parent=traceparent,
                                                         trace_state=tracestate))


def test_the_starter_and_an_activity_record_to_the_provider_they_are_given() -> None:
    provider, exporter = provider_with_memory()
    assert trace.get_tracer_provider() is not provider

    @activity(tracer_provider=provider)
    def greet(name: Any, context: Any) -> str:
        return f"hello {name}"

    with start_orchestration("parent", host_context(CALLER), "root-1",
                             tracer_provider=provider) as started:
        pass
    child = started.correlation.child("root-1:c", "child").for_activity("greet")
    assert greet(wrap(child, "ada"), host_context(CALLER)) == "hello ada"

    spans = {s.name: s for s in exporter.get_finished_spans()}
    assert set(spans) == {"start_orchestration:parent", "run_activity:greet"}
    starter, run = spans["start_orchestration:parent"], spans["run_activity:greet"]
    assert f"{starter.context.trace_id:032x}" == CALLER.split("-")[1]
    assert run.context.trace_id == starter.context.trace_id
    assert run.attributes is not None
    assert run.attributes[attributes.ROOT_INSTANCE_ID] == "root-1"
    assert run.attributes[attributes.INSTANCE_ID] == "root-1:c"


def test_async_activities_and_the_bare_span_take_it_too() -> None:
    provider, exporter = provider_with_memory()

    @activity(tracer_provider=provider)
    async def double(n: Any) -> int:
        return 2 * n

    correlation = Correlation("r", "", "r", "parent", "double")
    assert asyncio.run(double(wrap(correlation, 21))) == 42
    with activity_span("manual", None, tracer_provider=provider):
        pass
    assert [s.name for s in exporter.get_finished_spans()] == ["run_activity:double",
                                                               "run_activity:manual"]


def test_without_a_provider_the_global_one_is_used() -> None:
    provider, exporter = provider_with_memory()

    @activity
    def plain(n: Any) -> int:
        return n

    assert plain(wrap(Correlation("r", "", "r", "parent", "plain"), 1)) == 1
    assert exporter.get_finished_spans() == ()


def test_called_by_name_as_the_worker_does_or_by_position_the_same_span() -> None:
    """The worker calls `function(**args)` (azure-functions-runtime utils/executor.py), which
    takes the path without `inspect`; a positional call is bound by the signature. Both
    give the function its payload and put the span in the host's trace under its span."""
    provider, exporter = provider_with_memory()

    @activity(tracer_provider=provider)
    def greet(name: Any, context: Any) -> str:
        return f"hello {name}"

    record = Correlation(root_instance_id="root-1", parent_instance_id="", instance_id="root-1",
                         orchestration_name="parent", trace={"traceparent": CALLER})
    assert greet(name=wrap(record, "ada"), context=host_context(CALLER)) == "hello ada"
    assert greet(wrap(record, "bob"), host_context(CALLER)) == "hello bob"
    by_name, by_position = exporter.get_finished_spans()
    for span in (by_name, by_position):
        assert span.parent is not None and f"{span.parent.span_id:016x}" == CALLER[36:52]
        assert f"{span.context.trace_id:032x}" == CALLER[3:35] and not span.links


def test_a_host_span_in_another_trace_parents_to_the_record_and_links_the_host() -> None:
    provider, exporter = provider_with_memory()

    @activity(tracer_provider=provider)
    def greet(name: Any, context: Any) -> str:
        return f"hello {name}"

    other = "00-11111111111111111111111111111111-2222222222222222-00"
    record = Correlation(root_instance_id="root-1", parent_instance_id="", instance_id="root-1",
                         orchestration_name="parent", trace={"traceparent": f" {CALLER} "})
    greet(name=wrap(record, "ada"), context=host_context(other))
    (span,) = exporter.get_finished_spans()
    assert f"{span.context.trace_id:032x}" == CALLER[3:35]
    assert [f"{link.context.span_id:016x}" for link in span.links] == [other[36:52]]


def test_the_host_tracestate_carries_into_the_activity_span() -> None:
    provider, exporter = provider_with_memory()

    @activity(tracer_provider=provider)
    def greet(name: Any, context: Any) -> str:
        return f"hello {name}"

    greet(name="ada", context=host_context(CALLER, "vendor=1"))
    greet(name="bob", context=host_context(CALLER))
    with_state, without = exporter.get_finished_spans()
    assert with_state.context.trace_state.get("vendor") == "1"
    assert without.context.trace_state.get("vendor") is None


def test_a_call_bind_would_refuse_is_refused_before_any_span() -> None:
    provider, exporter = provider_with_memory()

    @activity(tracer_provider=provider)
    def greet(name: Any, context: Any) -> str:
        return f"hello {name}"

    with pytest.raises(TypeError):
        greet(name="ada")  # type: ignore[call-arg]  # `context` is required
    with pytest.raises(TypeError):
        greet(name="ada", context=None, extra=1)  # type: ignore[call-arg]
    assert exporter.get_finished_spans() == ()
