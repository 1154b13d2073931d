"""Durable distributed tracing V2 as DurableTask.Core emits it (Azure/durabletask 5217032).

Each test names the source it matches: file and function in DurableTask.Core, or the
listener in DurableTask.ApplicationInsights."""

from __future__ import annotations

import asyncio
import json
from collections.abc import Callable, Iterator, Mapping
from datetime import datetime
from pathlib import Path
from typing import Any, Protocol, cast

import pytest
from opentelemetry.sdk.trace import TracerProvider
from opentelemetry.sdk.trace.export import SimpleSpanProcessor
from opentelemetry.sdk.trace.export.in_memory_span_exporter import InMemorySpanExporter
from opentelemetry.sdk.trace.sampling import ALWAYS_ON
from opentelemetry.trace import SpanContext, SpanKind, Status, StatusCode

from devhost.durable.engine import Engine, EngineOptions, v2_tracing_active
from devhost.durable.store import Store
from devhost.durable.tracing import HostTracer, tracing_v2_enabled
from devhost.host.app import AppIndex

TRACEPARENT = "00-0af7651916cd43dd8448eb211c80319c-b7ad6b7169203331-01"
CALLER_TRACE = int("0af7651916cd43dd8448eb211c80319c", 16)
CALLER_SPAN = int("b7ad6b7169203331", 16)


@pytest.fixture()
def v2(semantics_index: AppIndex, tmp_path: Path) -> Iterator[V2]:
    exporter = InMemorySpanExporter()
    provider = TracerProvider(sampler=ALWAYS_ON)
    provider.add_span_processor(SimpleSpanProcessor(exporter))
    engines: list[Engine] = []

    def make() -> Engine:
        engine = Engine(semantics_index, Store(tmp_path / "durable.sqlite"),
                        EngineOptions(tracing_v2=True),
                        tracer=HostTracer(enabled=True, provider=provider))
        engines.append(engine)
        return engine

    yield make, exporter
    for engine in engines:
        engine.store.close()


def drive(engine: Engine, *starts: tuple[str, str | None, str],
          traceparent: str | None = TRACEPARENT, events: dict[str, str] | None = None
          ) -> list[dict[str, Any]]:
    async def main() -> list[dict[str, Any]]:
        await engine.start()
        try:
            ids = [engine.start_new(name, iid, payload, traceparent=traceparent)
                   for name, payload, iid in starts]
            for iid, event_name in (events or {}).items():
                await engine.idle()  # the instance waits for its event
                engine.raise_event(iid, event_name, json.dumps(True))
            out = []
            for iid in ids:
                await engine.wait(iid, 20)
                status = engine.status(iid)
                assert status is not None
                out.append(status)
            await engine.idle()
            return out
        finally:
            await engine.stop()

    return asyncio.run(main())


class Finished(Protocol):
    """A finished span as these tests read it. The SDK's ReadableSpan types its context,
    parent, times and attributes as optional (a span being built, a root); every span these
    tests look at has them, and one that did not would fail its test where it is read."""

    @property
    def name(self) -> str: ...
    @property
    def kind(self) -> SpanKind: ...
    @property
    def status(self) -> Status: ...
    @property
    def context(self) -> SpanContext: ...
    @property
    def parent(self) -> SpanContext: ...
    @property
    def attributes(self) -> Mapping[str, Any]: ...
    @property
    def start_time(self) -> int: ...
    @property
    def end_time(self) -> int: ...


V2 = tuple[Callable[[], Engine], InMemorySpanExporter]


def finished(spans: InMemorySpanExporter) -> list[Finished]:
    return cast(list[Finished], list(spans.get_finished_spans()))


def by_name(spans: InMemorySpanExporter) -> dict[str, list[Finished]]:
    out: dict[str, list[Finished]] = {}
    for span in finished(spans):
        out.setdefault(span.name, []).append(span)
    return out


def test_create_orchestration_producer_then_orchestration_server(v2: V2) -> None:
    """TraceHelper.StartActivityForNewOrchestration (PRODUCER, tags type/name/instance_id/
    execution_id) and StartTraceActivityForOrchestrationExecution (SERVER, child of it,
    status tag, no execution id); SetOrchestrationActivityStatus: OK "Completed"."""
    make, spans = v2
    [status] = drive(make(), ("fan_out", "3", "p1"))
    assert status["runtimeStatus"] == "Completed"
    named = by_name(spans)
    [producer] = named["create_orchestration:fan_out"]
    [server] = named["orchestration:fan_out"]
    assert producer.kind is SpanKind.PRODUCER
    assert producer.context.trace_id == CALLER_TRACE and producer.parent.span_id == CALLER_SPAN
    assert set(producer.attributes) == {"durabletask.type", "durabletask.task.name",
                                        "durabletask.task.instance_id",
                                        "durabletask.task.execution_id"}
    assert producer.attributes["durabletask.type"] == "orchestration"
    assert producer.attributes["durabletask.task.instance_id"] == "p1"
    assert server.kind is SpanKind.SERVER and server.parent.span_id == producer.context.span_id
    assert dict(server.attributes) == {
        "durabletask.type": "orchestration", "durabletask.task.name": "fan_out",
        "durabletask.task.instance_id": "p1", "durabletask.task.status": "Completed",
        "otel.status_description": "Completed"}
    assert server.status.status_code is StatusCode.OK
    # It starts at the first episode, after the client's PRODUCER span began.
    assert server.start_time >= producer.start_time


def test_activity_client_then_server_with_task_id(v2: V2) -> None:
    """TaskOrchestrationDispatcher.ProcessScheduleTaskDecision stores a client span id;
    TraceHelper.StartTraceActivityForSchedulingTask emits `activity:<name>` CLIENT with it
    (from TaskScheduled's time); TraceHelper.StartTraceActivityForTaskExecution emits the
    SERVER span beneath it with `durabletask.task.task_id` = the TaskScheduled event id."""
    make, spans = v2
    drive(make(), ("fan_out", "3", "p2"))
    named = by_name(spans)
    [server] = named["orchestration:fan_out"]
    activity_spans = named["activity:double"]
    clients = {s.context.span_id: s for s in activity_spans if s.kind is SpanKind.CLIENT}
    servers = [s for s in activity_spans if s.kind is SpanKind.SERVER]
    assert len(clients) == len(servers) == 3
    assert {c.parent.span_id for c in clients.values()} == {server.context.span_id}
    assert {s.parent.span_id for s in servers} == set(clients)
    assert sorted(s.attributes["durabletask.task.task_id"] for s in servers) == [0, 1, 2]
    for s in servers:
        # ApplicationInsightsLogger.ApplyFunctionResultActivityTags stamps the function result
        # (FunctionResultState) on Activity.Current, which is this span.
        assert s.attributes["FullName"] == "Functions.double"
        assert s.attributes["Category"] == "Host.Results" and s.attributes["Succeeded"] == "True"
        assert s.attributes["InvocationId"] and float(s.attributes["FunctionExecutionTimeMs"]) >= 0
        client = clients[s.parent.span_id]
        assert client.attributes["durabletask.task.task_id"] == s.attributes[
            "durabletask.task.task_id"]
        assert client.start_time <= s.start_time and client.end_time >= s.end_time
        assert s.status.status_code is StatusCode.OK
    assert len({s.context.trace_id for s in spans.get_finished_spans()}) == 1


def test_failed_activity_client_and_server_are_errors(v2: V2) -> None:
    """TraceHelper.EmitTraceActivityForTaskFailed: CLIENT Error with TaskFailedEvent.Reason;
    TaskActivityDispatcher sets the SERVER span Error with the exception's message;
    SetOrchestrationActivityStatus: a Failed orchestration is Error with its failure text."""
    make, spans = v2
    [status] = drive(make(), ("failing_child", json.dumps("kaboom"), "f1"))
    assert status["runtimeStatus"] == "Failed"
    named = by_name(spans)
    client = next(s for s in named["activity:explode"] if s.kind is SpanKind.CLIENT)
    server = next(s for s in named["activity:explode"] if s.kind is SpanKind.SERVER)
    assert client.status.status_code is StatusCode.ERROR
    assert "kaboom" in (client.status.description or "")
    assert server.status.status_code is StatusCode.ERROR
    assert "kaboom" in (server.status.description or "")
    assert (server.attributes["Succeeded"], server.attributes["LogLevel"]) == ("False", "Error")
    [orch] = named["orchestration:failing_child"]
    assert orch.status.status_code is StatusCode.ERROR
    assert orch.attributes["durabletask.task.status"] == "Failed"
    assert orch.status.description == status["output"]


def test_sub_orchestration_client_is_the_child_server_parent(v2: V2) -> None:
    """TaskOrchestrationDispatcher.ProcessCreateSubOrchestrationInstanceDecision (ClientSpanId
    → child's parent trace context) and TraceHelper
    .CreateTraceActivityForSchedulingSubOrchestration (CLIENT `orchestration:<child>`, the
    parent's instance id tag)."""
    make, spans = v2
    drive(make(), ("fan_out_children", "2", "sp"))
    named = by_name(spans)
    [root] = named["orchestration:fan_out_children"]
    child_spans = named["orchestration:one_child"]
    clients = [s for s in child_spans if s.kind is SpanKind.CLIENT]
    servers = [s for s in child_spans if s.kind is SpanKind.SERVER]
    assert len(clients) == len(servers) == 2
    assert {c.parent.span_id for c in clients} == {root.context.span_id}
    assert {c.attributes["durabletask.task.instance_id"] for c in clients} == {"sp"}
    assert {s.parent.span_id for s in servers} == {c.context.span_id for c in clients}
    assert {s.attributes["durabletask.task.instance_id"] for s in servers} == {"sp:c0", "sp:c1"}
    assert "create_orchestration:one_child" not in named  # only clients produce those


def test_timer_internal_span_with_fire_at(v2: V2) -> None:
    """TraceHelper.EmitTraceActivityForTimer: `orchestration:<name>:timer`, INTERNAL,
    `durabletask.fire_at` and the timer id as task id, from creation to processing."""
    make, spans = v2
    drive(make(), ("timer_then_activity", "0.3", "t1"))
    [timer] = by_name(spans)["orchestration:timer_then_activity:timer"]
    [orch] = by_name(spans)["orchestration:timer_then_activity"]
    assert timer.kind is SpanKind.INTERNAL and timer.parent.span_id == orch.context.span_id
    assert timer.attributes["durabletask.type"] == "timer"
    assert timer.attributes["durabletask.task.task_id"] == 0
    fire_at = datetime.fromisoformat(str(timer.attributes["durabletask.fire_at"]))
    # It ends when the TimerFired message is processed, never before it was due. (Its start is
    # when the episode committed TimerCreated, which on a busy machine can come well after
    # the orchestrator computed fire_at from the episode's start.)
    assert timer.start_time < timer.end_time
    assert timer.end_time / 1e9 >= fire_at.timestamp() - 0.001


def test_one_server_span_across_episodes_and_continue_as_new(v2: V2) -> None:
    """TaskOrchestrationDispatcher: the span id is kept in the ExecutionStarted parent trace
    context across episodes and copied into the continue-as-new execution
    (SetParentTraceContext), and stopped only at completion (ResetDistributedTraceActivity)."""
    make, spans = v2
    [status] = drive(make(), ("counter", json.dumps({"value": 1, "rounds": 3}), "c1"))
    assert status["output"] == 8
    named = by_name(spans)
    [orch] = named["orchestration:counter"]
    clients = [s for s in named["activity:double"] if s.kind is SpanKind.CLIENT]
    assert len(clients) == 3 and {c.parent.span_id for c in clients} == {orch.context.span_id}
    assert orch.start_time <= min(c.start_time for c in clients)


def test_restart_of_the_host_keeps_the_span_id(v2: V2, tmp_path: Path) -> None:
    """The id lives in the store (DistributedTraceContext in ExecutionStarted): an engine
    started afresh on the same store finishes the instance under the same span id."""
    make, spans = v2
    first = make()

    async def begin() -> None:
        await first.start()
        first.start_new("timer_then_activity", "t2", "0.5", traceparent=TRACEPARENT)
        await first.idle()  # its first episode committed; the timer is due later
        await first.stop()

    asyncio.run(begin())
    stored = first.store.get_instance("t2")
    assert stored is not None and stored.trace_start is not None
    first.store.close()
    second = make()

    async def finish() -> None:
        await second.start()
        await second.wait("t2", 20)
        await second.idle()
        await second.stop()

    asyncio.run(finish())
    [orch] = by_name(spans)["orchestration:timer_then_activity"]
    assert f"{orch.context.span_id:016x}" == stored.span_id


def test_raised_event_is_an_orchestration_event_producer(v2: V2) -> None:
    """TraceHelper.StartActivityForNewEventRaisedFromClient (called by TaskHubClient
    .RaiseEventAsync, what the raise-event handler runs): PRODUCER `orchestration_event:<name>`
    with `durabletask.event.target_instance_id`, under the caller's context."""
    from devhost.durable.httpapi.management import trace_event_raised

    make, spans = v2
    engine = make()

    async def main() -> None:
        await engine.start()
        try:
            engine.start_new("approval", "e1", None, traceparent=TRACEPARENT)
            await engine.idle()  # waiting for the event
            engine.raise_event("e1", "Approval", "true")
            trace_event_raised(engine, "e1", "Approval", TRACEPARENT, None)
            await engine.wait("e1", 20)
        finally:
            await engine.stop()

    asyncio.run(main())
    [event] = by_name(spans)["orchestration_event:Approval"]
    assert event.kind is SpanKind.PRODUCER and event.parent.span_id == CALLER_SPAN
    assert dict(event.attributes) == {"durabletask.type": "event",
                                      "durabletask.task.name": "Approval",
                                      "durabletask.event.target_instance_id": "e1"}


def test_unsampled_caller_still_gets_host_spans_and_keeps_its_flag(v2: V2) -> None:
    """DurableTelemetryModule.Initialize samples AllData whatever the parent says; the .NET
    Activity keeps its parent's flags (Activity.Create), so the activity invocation gets the
    caller's `00` back in its traceparent."""
    make, spans = v2
    engine = make()
    seen: list[str] = []
    original = engine.tracer.activity

    def spy(**kwargs: Any) -> Any:
        manager = original(**kwargs)

        class Wrap:
            def __enter__(self) -> Any:
                value = manager.__enter__()
                seen.append(value.traceparent)
                return value

            def __exit__(self, *exc: Any) -> Any:
                return manager.__exit__(*exc)

        return Wrap()

    engine.tracer.activity = spy  # type: ignore[method-assign]
    drive(engine, ("fan_out", "1", "u1"), traceparent=TRACEPARENT[:-2] + "00")
    assert "orchestration:fan_out" in by_name(spans)
    assert seen and all(tp.endswith("-00") for tp in seen)


def test_v2_needs_host_json_and_a_connection_string(monkeypatch: pytest.MonkeyPatch) -> None:
    """TelemetryActivator.Initialize: V2 only with DistributedTracingEnabled and Version V2
    (TraceOptions.Version defaults to V1); rows need a connection string or key."""
    assert tracing_v2_enabled({"tracing": {"distributedTracingEnabled": True, "version": "V2"}})
    assert tracing_v2_enabled({"Tracing": {"DistributedTracingEnabled": "true",
                                           "Version": "v2"}})
    assert not tracing_v2_enabled({"tracing": {"distributedTracingEnabled": True}})  # V1
    assert not tracing_v2_enabled({"tracing": {"version": "V2"}})
    monkeypatch.delenv("APPLICATIONINSIGHTS_CONNECTION_STRING", raising=False)
    monkeypatch.delenv("APPINSIGHTS_INSTRUMENTATIONKEY", raising=False)
    assert not v2_tracing_active(EngineOptions(tracing_v2=True))
    monkeypatch.setenv("APPLICATIONINSIGHTS_CONNECTION_STRING", "InstrumentationKey=x")
    assert v2_tracing_active(EngineOptions(tracing_v2=True))
    assert not v2_tracing_active(EngineOptions(tracing_v2=False))


def test_no_spans_when_v2_is_off(semantics_index: AppIndex, tmp_path: Path) -> None:
    """Without the listener (V1/none) DurableTask.Core's ActivitySource has nobody to
    record for: no host rows at all."""
    exporter = InMemorySpanExporter()
    provider = TracerProvider(sampler=ALWAYS_ON)
    provider.add_span_processor(SimpleSpanProcessor(exporter))
    engine = Engine(semantics_index, Store(tmp_path / "off.sqlite"),
                    tracer=HostTracer(enabled=False, provider=provider))
    [status] = drive(engine, ("fan_out", "2", "off"))
    engine.store.close()
    assert status["runtimeStatus"] == "Completed"
    assert exporter.get_finished_spans() == ()


def test_orchestration_span_starts_at_the_first_episode_not_at_creation(v2: V2) -> None:
    """StartTraceActivityForOrchestrationExecution: the SERVER span's start is the
    ActivityStartTime recorded when the first episode ran; the PRODUCER span is the client's
    creation. An instance created while no worker runs shows the gap."""
    make, spans = v2
    engine = make()

    async def main() -> None:
        notify = engine.notify
        engine.notify = lambda *args, **kwargs: None  # type: ignore[method-assign]
        engine.start_new("fan_out", "late", "1", traceparent=TRACEPARENT)
        engine.notify = notify  # type: ignore[method-assign]
        await asyncio.sleep(0.4)  # created, no worker yet: start() finds it in the store
        await engine.start()
        try:
            await engine.wait("late", 20)
            await engine.idle()
        finally:
            await engine.stop()

    asyncio.run(main())
    [producer] = by_name(spans)["create_orchestration:fan_out"]
    [server] = by_name(spans)["orchestration:fan_out"]
    assert (server.start_time - producer.start_time) / 1e9 >= 0.35


def test_terminated_orchestration_span_is_an_error_named_terminated(v2: V2) -> None:
    """TaskOrchestrationDispatcher.SetOrchestrationActivityStatus: Terminated → Error with
    the description "Terminated"; the status tag is the runtime status."""
    make, spans = v2
    engine = make()

    async def main() -> None:
        await engine.start()
        try:
            engine.start_new("slow", "term", None, traceparent=TRACEPARENT)
            await engine.idle()  # its first episode ran: the hour-long timer is set
            engine.terminate("term", "enough")
            await engine.wait("term", 20)
        finally:
            await engine.stop()

    asyncio.run(main())
    [orch] = by_name(spans)["orchestration:slow"]
    assert orch.status.status_code is StatusCode.ERROR and orch.status.description == "Terminated"
    assert orch.attributes["durabletask.task.status"] == "Terminated"
