"""Suspend, resume and rewind on devhost's engine, through the real SDK's replay.

Sources: DurableTask.Core `TaskHubClient.SuspendInstanceAsync`/`ResumeInstanceAsync`
(ExecutionSuspendedEvent/ExecutionResumedEvent), `OrchestrationRuntimeState` (status
Suspended/Running), `TaskOrchestrationContext.HandleEventWhileSuspended` (no progress while
suspended); DurableTask.AzureStorage `AzureTableTrackingStore.RewindHistoryAsync` and
`AzureStorageOrchestrationService.RewindTaskOrchestrationAsync` (rewind).
"""

from __future__ import annotations

import asyncio
import json
import os
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any

import pytest

from devhost.cli.start import load_app
from devhost.durable.dispatcher import EngineOptions
from devhost.durable.engine import Engine, Gone, PreconditionFailed
from devhost.durable.history import EventType
from devhost.durable.store import Store
from devhost.host.app import AppIndex

from ..support import APPS
from .support import drive

pytestmark = pytest.mark.host

Factory = Callable[[], Engine]


@pytest.fixture(scope="session")
def lifecycle_index(tmp_path_factory: pytest.TempPathFactory) -> AppIndex:
    os.environ["LIFECYCLE_MARKS_DIR"] = str(tmp_path_factory.mktemp("marks"))
    return load_app("lifecycle_app", APPS)


@pytest.fixture()
def engine(lifecycle_index: AppIndex, tmp_path: Path) -> Iterator[Engine]:
    eng = Engine(lifecycle_index, Store(tmp_path / "durable.sqlite"))
    yield eng
    eng.store.close()


async def _until(engine: Engine, iid: str, check: Callable[[dict[str, Any]], bool],
                 timeout: float = 10) -> dict[str, Any]:
    for _ in range(int(timeout / 0.01)):
        status = engine.status(iid, show_history=True)
        if status and check(status):
            return status
        await asyncio.sleep(0.01)
    raise AssertionError(engine.status(iid, show_history=True))


def _types(status: dict[str, Any]) -> list[str]:
    # A Pending instance's status has no history yet (HttpApiHandler shows none).
    return [e["EventType"] for e in status.get("historyEvents", [])]


def test_suspend_holds_events_and_resume_delivers_them(engine: Engine) -> None:
    async def body(e: Engine) -> tuple[Any, Any, Any]:
        iid = e.start_new("two_steps_with_event", "s1", None)
        await _until(e, iid, lambda s: "TaskCompleted" in _types(s))
        e.suspend(iid, "maintenance")
        suspended = await _until(e, iid, lambda s: s["runtimeStatus"] == "Suspended")
        e.raise_event(iid, "Approval", json.dumps("yes"))
        await e.idle()  # handled: a running instance would have taken the event by now
        held = e.status(iid, show_history=True)
        e.suspend(iid, "done", resume=True)
        await e.wait(iid, 10)
        return suspended, held, e.status(iid, show_history=True)

    suspended, held, final = drive(engine, body)
    assert suspended["runtimeStatus"] == "Suspended"
    assert held is not None and held["runtimeStatus"] == "Suspended"
    assert "EventRaised" not in _types(held)  # the orchestration did not advance
    assert final["runtimeStatus"] == "Completed"
    assert final["output"] == {"first": 2, "second": 3, "approved": "yes"}
    kinds = _types(final)
    assert kinds.index("ExecutionSuspended") < kinds.index("ExecutionResumed") \
        < kinds.index("EventRaised")
    stored = engine.store.history("s1")
    assert [e.get("Reason") for e in stored
            if e["EventType"] == EventType.EXECUTION_SUSPENDED] == ["maintenance"]


def test_terminate_works_on_a_suspended_instance(engine: Engine) -> None:
    async def body(e: Engine) -> dict[str, Any] | None:
        iid = e.start_new("two_steps_with_event", "s2", None)
        await _until(e, iid, lambda s: "TaskCompleted" in _types(s))
        e.suspend(iid, None)
        await _until(e, iid, lambda s: s["runtimeStatus"] == "Suspended")
        e.terminate(iid, "stop")
        await e.wait(iid, 10)
        return e.status(iid)

    final = drive(engine, body)
    assert final is not None and final["runtimeStatus"] == "Terminated"


def test_suspend_of_a_finished_instance_is_gone(engine: Engine) -> None:
    async def body(e: Engine) -> None:
        iid = e.start_new("slow_once", "done", "0")
        await e.wait(iid, 10)
        with pytest.raises(Gone):
            e.suspend(iid, None)
        with pytest.raises(PreconditionFailed):  # extension 3.x: 412, only Failed rewinds
            e.rewind(iid, None)

    drive(engine, body)


def test_rewind_reruns_the_failed_activity_under_its_task_id(engine: Engine) -> None:
    async def body(e: Engine) -> tuple[Any, Any]:
        iid = e.start_new("rewindable", "r1", json.dumps("r1"))
        await e.wait(iid, 10)
        failed = e.status(iid)
        e.rewind(iid, "fixed")
        await e.wait(iid, 10)
        return failed, e.status(iid, show_history=True)

    failed, final = drive(engine, body)
    assert failed["runtimeStatus"] == "Failed"
    assert final["runtimeStatus"] == "Completed" and final["output"] == [2, "r1 ok"]
    history = engine.store.history("r1")
    generic = [e["Reason"] for e in history if e["EventType"] == EventType.GENERIC_EVENT
               and e.get("Reason")]
    assert generic == ["Rewound: TaskScheduled", "Rewound: TaskFailed",
                       "Rewound: ExecutionCompleted"]
    scheduled = [e for e in history if e["EventType"] == EventType.TASK_SCHEDULED
                 and e["Name"] == "fails_first_time"]
    completed = [e for e in history if e["EventType"] == EventType.TASK_COMPLETED]
    assert [e["EventId"] for e in scheduled] == [1]
    assert [e["TaskScheduledId"] for e in completed] == [0, 1]


def test_rewind_of_a_parent_rewinds_its_failed_child(engine: Engine) -> None:
    async def body(e: Engine) -> tuple[Any, Any]:
        iid = e.start_new("rewindable_parent", "p1", json.dumps("p1"))
        await e.wait(iid, 10)
        failed = e.status(iid)
        e.rewind(iid, "fixed")
        await e.wait(iid, 10)
        return failed, e.status(iid)

    failed, final = drive(engine, body)
    assert failed["runtimeStatus"] == "Failed"
    assert final["runtimeStatus"] == "Completed" and final["output"] == [2, "p1 ok"]
    child = engine.status("p1:child")
    assert child is not None and child["runtimeStatus"] == "Completed"
    created = [e for e in engine.store.history("p1")
               if e["EventType"] == EventType.SUB_ORCHESTRATION_CREATED]
    assert created[0]["Reason"] == "Rewound: SubOrchestrationInstanceCreated"


def test_rewind_of_a_task_that_failed_after_retries_is_refused_clearly(engine: Engine) -> None:
    from devhost.durable.engine import DurableError

    async def body(e: Engine) -> tuple[Any, Any]:
        iid = e.start_new("rewindable_with_retry", "rr", json.dumps("rr"))
        await e.wait(iid, 10)
        with pytest.raises(DurableError, match="cannot rewind fails_twice: it failed after "
                                               "retries"):
            e.rewind(iid, "fixed")
        return e.status(iid), engine.store.history(iid)

    status, history = drive(engine, body)
    assert status["runtimeStatus"] == "Failed"  # unchanged
    assert not [ev for ev in history if ev["EventType"] == EventType.GENERIC_EVENT]


def test_a_replacement_during_an_episode_drops_that_episodes_commit(
        lifecycle_index: AppIndex, tmp_path: Path) -> None:
    """The orchestrator is mid-episode when a start replaces its instance (host.json
    `overridableExistingInstanceStates: "AnyState"`; extension 3.x refuses a purge of a
    running instance, 412). On Azure Storage the episode's checkpoint no longer matches the
    instance's row (etag) and its work item is dropped; devhost's commit finds another
    execution and writes nothing: the new execution's history is its own, from one
    ExecutionStarted, and it completes on its own."""
    marks = Path(os.environ["LIFECYCLE_MARKS_DIR"])
    engine = Engine(lifecycle_index, Store(tmp_path / "durable.sqlite"),
                    EngineOptions(override_any_state=True))

    async def main() -> dict[str, Any] | None:
        await engine.start()
        try:
            engine.start_new("gated", "gated-replace", None)
            for _ in range(1000):
                if (marks / "gated-replace.entered").exists():
                    break
                await asyncio.sleep(0.01)
            with pytest.raises(PreconditionFailed):
                engine.purge("gated-replace")
            first = engine.store.get_instance("gated-replace")
            engine.start_new("gated", "gated-replace", None)
            second = engine.store.get_instance("gated-replace")
            assert first is not None and second is not None
            assert second.execution_id != first.execution_id
            (marks / "gated-replace.gate").touch()
            await engine.wait("gated-replace", 10)
            return engine.status("gated-replace")
        finally:
            await engine.stop()

    final = asyncio.run(main())
    engine.store.close()
    assert final is not None and (final["runtimeStatus"], final["output"]) == ("Completed", 2)
    store = Store(tmp_path / "durable.sqlite")
    events = store.history("gated-replace")
    store.close()
    kinds = [e["EventType"] for e in events]
    assert kinds.count(EventType.EXECUTION_STARTED) == 1
    assert kinds.count(EventType.TASK_SCHEDULED) == 1
