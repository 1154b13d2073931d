"""Orchestration semantics through the real SDK on devhost's engine."""

from __future__ import annotations

import asyncio
import json
import time
from collections.abc import Callable
from datetime import datetime, timedelta
from typing import Any

from devhost.durable.engine import Engine
from devhost.durable.history import EventType

from .support import drive, run

Factory = Callable[[], Engine]


def test_fan_out_of_100_activities(engine_factory: Factory) -> None:
    status = drive(engine_factory(), lambda e: run(e, "fan_out", "100"))
    assert status["runtimeStatus"] == "Completed"
    assert status["output"] == sum(i * 2 for i in range(100))


def test_fan_out_of_100_sub_orchestrations_with_given_ids(engine_factory: Factory) -> None:
    engine = engine_factory()
    status = drive(engine, lambda e: run(e, "fan_out_children", "100", instance_id="p"))
    assert status["output"] == sum(i * 2 for i in range(100))
    children = engine.store.query_instances(prefix="p:")
    assert len(children) == 100 and {c.runtime_status for c in children} == {"Completed"}
    assert {c.parent_instance_id for c in children} == {"p"}


def test_retry_fails_twice_then_succeeds_with_backoff(engine_factory: Factory) -> None:
    engine = engine_factory()
    started = time.monotonic()
    status = drive(engine, lambda e: run(e, "retrying", json.dumps("k1"), instance_id="r"))
    elapsed = time.monotonic() - started
    assert status["output"] == {"first": "k1 ok after 3", "second": 42}
    assert elapsed >= 0.4  # two backoffs of 200 ms were honoured
    kinds = [e["EventType"] for e in engine.store.history("r")]
    assert kinds.count(EventType.TASK_FAILED) == 2
    assert kinds.count(EventType.TIMER_FIRED) == 2


def test_retry_exhausted_surfaces_the_error(engine_factory: Factory) -> None:
    engine = engine_factory()
    status = drive(engine, lambda e: run(e, "retry_exhausted", None, instance_id="x"))
    assert status["output"] == {"caught": True}
    history = engine.store.history("x")
    assert [e["EventType"] for e in history].count(EventType.TASK_FAILED) == 2
    # DurableTask.Core RetryInterceptor.Invoke: a retry timer of the interval after the first
    # failure, then only the "Dummy timer for back-compat", due at once, after the last.
    # Measured from the episode's clock (its OrchestratorStarted), as the SDK sees time.
    delays, episode = [], None
    for e in history:
        if e["EventType"] == EventType.ORCHESTRATOR_STARTED:
            episode = datetime.fromisoformat(e["Timestamp"])
        elif e["EventType"] == EventType.TIMER_CREATED:
            assert episode is not None
            delays.append(datetime.fromisoformat(e["FireAt"]) - episode)
    expected = [timedelta(milliseconds=50), timedelta(0)]
    # (the two timestamps are written at different precisions: microseconds apart)
    assert len(delays) == 2 and all(abs(d - x) < timedelta(milliseconds=1)
                                    for d, x in zip(delays, expected, strict=True)), delays


def test_durable_timer_delays_the_orchestration(engine_factory: Factory) -> None:
    started = time.monotonic()
    status = drive(engine_factory(), lambda e: run(e, "timer_then_activity", "0.5"))
    assert status["output"] == 10
    assert time.monotonic() - started >= 0.5


def test_external_event_and_custom_status(engine_factory: Factory) -> None:
    async def body(engine: Engine) -> tuple[Any, Any]:
        iid = engine.start_new("approval", "a1", None)
        for _ in range(100):
            waiting = engine.status(iid)
            if waiting and waiting["customStatus"] == {"stage": "waiting"}:
                break
            await asyncio.sleep(0.01)
        engine.raise_event(iid, "Approval", json.dumps("yes"))
        await engine.wait(iid, 10)
        return waiting, engine.status(iid)

    waiting, done = drive(engine_factory(), body)
    assert waiting["runtimeStatus"] == "Running"
    assert done["output"] == {"approved": "yes"}
    assert done["customStatus"] == {"stage": "decided"}


def test_event_raised_before_the_wait_is_buffered(engine_factory: Factory) -> None:
    async def body(engine: Engine) -> Any:
        iid = engine.start_new("approval", "early", None)
        engine.raise_event(iid, "Approval", json.dumps(True))
        await engine.wait(iid, 10)
        return engine.status(iid)

    assert drive(engine_factory(), body)["output"] == {"approved": True}


def test_task_any_timer_wins(engine_factory: Factory) -> None:
    status = drive(engine_factory(), lambda e: run(e, "approval_or_timeout", "0.2"))
    assert status["output"] == {"approved": None, "timedOut": True}


def test_continue_as_new_restarts_with_new_input(engine_factory: Factory) -> None:
    engine = engine_factory()
    status = drive(engine, lambda e: run(e, "counter", json.dumps({"value": 1, "rounds": 4}),
                                          instance_id="c"))
    assert status["runtimeStatus"] == "Completed"
    assert status["output"] == 16
    history = engine.store.history("c")
    assert [e["EventType"] for e in history].count(EventType.EXECUTION_STARTED) == 1


def test_failing_sub_orchestration_is_caught_by_parent(engine_factory: Factory) -> None:
    engine = engine_factory()
    status = drive(engine, lambda e: run(e, "failing_parent", None, instance_id="fp"))
    assert status["output"]["childFailed"] is True
    assert "boom" in status["output"]["message"]
    child = engine.status("fp:child")
    assert child is not None and child["runtimeStatus"] == "Failed"
    assert "boom" in child["output"]


def test_uncaught_child_failure_fails_the_parent(engine_factory: Factory) -> None:
    status = drive(engine_factory(), lambda e: run(e, "uncaught_parent", None))
    assert status["runtimeStatus"] == "Failed"
    assert "deep" in status["output"]


def test_a_child_started_without_an_id_is_named_after_the_parents_execution(
        engine_factory: Factory) -> None:
    """DurableTask.Core TaskOrchestrationContext.CreateSubOrchestrationInstanceCore: with no
    instance id (the SDK sends none, the extension passes null on) the child is
    "<parent ExecutionId>:<task id>"."""
    engine = engine_factory()
    status = drive(engine, lambda e: run(e, "uncaught_parent", None, instance_id="up-1"))
    parent = engine.store.get_instance("up-1")
    assert status["runtimeStatus"] == "Failed" and parent is not None
    [child] = engine.store.query_instances(prefix=f"{parent.execution_id}:")
    assert child.instance_id == f"{parent.execution_id}:0"
    assert child.parent_instance_id == "up-1"


def test_each_attempt_of_a_retried_child_without_an_id_is_a_new_instance(
        engine_factory: Factory) -> None:
    """DurableTask.Core RetryInterceptor.Invoke (OrchestrationContext
    .CreateSubOrchestrationInstanceWithRetry) calls CreateSubOrchestrationInstance with a null
    id again for every attempt, and CreateSubOrchestrationInstanceCore names each
    "<parent ExecutionId>:<that attempt's task id>": no attempt reuses the failed child."""
    engine = engine_factory()
    status = drive(engine, lambda e: run(e, "retried_child_without_id", None,
                                          instance_id="rc-1"))
    parent = engine.store.get_instance("rc-1")
    assert status["output"] == {"caught": True} and parent is not None
    created = [e for e in engine.store.history("rc-1")
               if e["EventType"] == EventType.SUB_ORCHESTRATION_CREATED]
    assert [e["InstanceId"] for e in created] == [
        f"{parent.execution_id}:{e['EventId']}" for e in created]
    assert len({e["EventId"] for e in created}) == 2
    children = engine.store.query_instances(prefix=f"{parent.execution_id}:")
    assert sorted(c.instance_id for c in children) == sorted(e["InstanceId"] for e in created)
    assert {c.runtime_status for c in children} == {"Failed"}


def test_terminate_and_purge(engine_factory: Factory) -> None:
    async def body(engine: Engine) -> tuple[Any, int, Any]:
        iid = engine.start_new("slow", "s1", None)
        await engine.idle()  # its first episode ran: the hour-long timer is set
        engine.terminate(iid, "enough")
        final = await engine.wait(iid, 5)
        purged = engine.purge(iid)
        return engine.status_of(final), purged, engine.status(iid)

    terminated, purged, after = drive(engine_factory(), body)
    assert terminated["runtimeStatus"] == "Terminated"
    assert terminated["output"] == "enough"
    assert purged == 1 and after is None


def test_unknown_orchestrator_is_rejected_without_side_effects(engine_factory: Factory) -> None:
    from devhost.durable.engine import NotFound

    engine = engine_factory()
    try:
        engine.start_new("nope", "n1", None)
    except NotFound as err:
        assert "nope" in str(err)
    else:
        raise AssertionError("expected NotFound")
    assert engine.store.get_instance("n1") is None
