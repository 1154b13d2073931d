"""Entity spans as DurableTask.Core names them (TraceHelper.CreateEntitySpanName:
`entity:<name>:<operation>`): StartActivityForCallingOrSignalingEntity (CLIENT for
call_entity, PRODUCER for signal_entity, under the orchestration) and
StartActivityForProcessingEntityInvocation (SERVER / CONSUMER, under the caller's span).
The name is the entity id's, `EntityId.FromString(instanceId).Name` (TaskEntityDispatcher),
lowercased as the extension's EntityId forms it: `entity:counter:add` for `Counter`."""

from __future__ import annotations

import asyncio
import json
from collections import Counter
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
from opentelemetry.sdk.trace import TracerProvider
from opentelemetry.sdk.trace.export import SimpleSpanProcessor
from opentelemetry.sdk.trace.export.in_memory_span_exporter import InMemorySpanExporter
from opentelemetry.sdk.trace.sampling import ALWAYS_ON
from opentelemetry.trace import SpanKind

from devhost.cli.start import load_app
from devhost.durable.engine import Engine, EngineOptions
from devhost.durable.store import Store
from devhost.durable.tracing import HostTracer

from ..support import APPS
from .support import run

pytestmark = pytest.mark.host


@pytest.fixture()
def provider() -> TracerProvider:
    # The host records its V2 spans whatever the caller's flag (DurableTelemetryModule:
    # AllData), so the test provider samples everything too.
    return TracerProvider(sampler=ALWAYS_ON)


@pytest.fixture()
def spans(provider: TracerProvider) -> Iterator[InMemorySpanExporter]:
    exporter = InMemorySpanExporter()
    provider.add_span_processor(SimpleSpanProcessor(exporter))
    yield exporter
    exporter.shutdown()


def test_call_and_signal_entity_spans(tmp_path: Path, provider: TracerProvider,
                                      spans: InMemorySpanExporter) -> None:
    engine = Engine(load_app("entity_counter_app", APPS), Store(tmp_path / "d.sqlite"),
                    EngineOptions(tracing_v2=True),
                    tracer=HostTracer(enabled=True, provider=provider))

    async def main() -> None:
        await engine.start()
        try:
            status = await run(engine, "counter_orchestrator", json.dumps("t1"), instance_id="t")
            assert status["runtimeStatus"] == "Completed"
        finally:
            await engine.stop()

    asyncio.run(main())
    # ReadableSpans, read as finished ones: every span here has its parent and attributes
    finished: tuple[Any, ...] = spans.get_finished_spans()
    orchestration = next(s for s in finished if s.name == "orchestration:counter_orchestrator")
    entity = [s for s in finished if s.name.startswith("entity:counter:")]
    assert Counter((s.name, s.kind) for s in entity) == Counter([
        ("entity:counter:add", SpanKind.PRODUCER), ("entity:counter:add", SpanKind.CONSUMER),
        ("entity:counter:add", SpanKind.CLIENT), ("entity:counter:add", SpanKind.SERVER),
        ("entity:counter:get", SpanKind.CLIENT), ("entity:counter:get", SpanKind.SERVER),
        ("entity:counter:fail", SpanKind.CLIENT), ("entity:counter:fail", SpanKind.SERVER),
        ("entity:counter:get", SpanKind.CLIENT), ("entity:counter:get", SpanKind.SERVER)])
    callers = [s for s in entity if s.kind in (SpanKind.CLIENT, SpanKind.PRODUCER)]
    assert {s.parent.span_id for s in callers} == {orchestration.context.span_id}
    by_id = {s.context.span_id: s for s in callers}
    for served in (s for s in entity if s.kind in (SpanKind.SERVER, SpanKind.CONSUMER)):
        assert served.parent.span_id in by_id
        assert served.attributes["durabletask.task.instance_id"] == "@counter@t1"
    failed = next(s for s in entity
                  if s.name == "entity:counter:fail" and s.kind is SpanKind.SERVER)
    assert failed.attributes["durabletask.entity.error_message"] == "cannot divide"
    assert {s.attributes["durabletask.task.operation"] for s in callers} == {
        "call_entity", "signal_entity"}
    engine.store.close()
