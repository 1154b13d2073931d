"""Host spans shaped like Durable distributed tracing V2, emitted once per instance."""

from __future__ import annotations

import asyncio
import json
from collections import Counter
from collections.abc import Iterator

import pytest
from opentelemetry import trace
from opentelemetry.sdk.trace import TracerProvider
from opentelemetry.sdk.trace.export import SimpleSpanProcessor
from opentelemetry.sdk.trace.export.in_memory_span_exporter import InMemorySpanExporter
from opentelemetry.trace import SpanKind

from .conftest import run


@pytest.fixture()
def spans() -> Iterator[InMemorySpanExporter]:
    provider = trace.get_tracer_provider()
    if not isinstance(provider, TracerProvider):
        provider = TracerProvider()
        trace.set_tracer_provider(provider)
    exporter = InMemorySpanExporter()
    provider.add_span_processor(SimpleSpanProcessor(exporter))  # type: ignore[union-attr]
    yield exporter
    exporter.shutdown()


def test_one_orchestration_span_per_instance_and_one_trace(engine_factory, spans) -> None:  # type: ignore[no-untyped-def]
    engine = engine_factory()

    async def main() -> None:
        await engine.start()
        try:
            await run(engine, "fan_out_children", "5", instance_id="tr")
            await run(engine, "retrying", json.dumps("trace-key"), instance_id="tr-retry")
        finally:
            await engine.stop()

    asyncio.run(main())
    finished = [s for s in spans.get_finished_spans() if s.name.startswith(("orchestration:",
                                                                           "activity:"))]
    by_instance = Counter(s.attributes["durabletask.task.instance_id"] for s in finished
                          if s.name.startswith("orchestration:"))
    assert by_instance == Counter({"tr": 1, **{f"tr:c{i}": 1 for i in range(5)}, "tr-retry": 1})
    fan = [s for s in finished if s.attributes["durabletask.task.instance_id"].startswith("tr:")
           or s.attributes["durabletask.task.instance_id"] == "tr"]
    assert len({s.context.trace_id for s in fan}) == 1
    root = next(s for s in fan if s.name == "orchestration:fan_out_children")
    assert root.kind is SpanKind.SERVER and root.parent is None
    children = [s for s in fan if s.name == "orchestration:one_child"]
    assert {s.parent.span_id for s in children} == {root.context.span_id}
    activities = [s for s in fan if s.name == "activity:double"]
    child_ids = {s.context.span_id for s in children}
    assert len(activities) == 5 and {s.parent.span_id for s in activities} == child_ids
    assert all(s.start_time >= root.start_time and s.end_time <= root.end_time
               for s in children)
    attempts = [s for s in finished if s.name == "activity:flaky"]
    assert len(attempts) == 3  # one span per attempt, two of them failed
    assert sum(not s.status.is_ok for s in attempts) == 2
