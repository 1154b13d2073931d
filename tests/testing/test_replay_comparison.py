"""`durable_app.replay` compares what the code asks for with what history recorded the way
DurableTask.Core does when an in-flight instance replays after a deploy: each sequenced
action against the event recorded at its place, by type and name
(TaskOrchestrationContext.HandleTaskScheduledEvent / HandleSubOrchestrationCreatedEvent /
HandleEventSentEvent, Azure/durabletask 5217032), with the extension's out-of-proc shim
turning the SDK's actions into those calls (OutOfProcOrchestrationShim.InvokeAPIFromAction,
Azure/azure-functions-durable-extension a7c6d69: call_entity / signal_entity send an event
named "op" to the entity; continue_as_new completes the execution and takes no place).

Histories are recorded from replay_app.py; its second orchestrator of each pair stands in
for an edit of the first."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import pytest

from devhost.testing import DurableApp, RunHandle

pytestmark = pytest.mark.durable_app(module="replay_app", app_dir="tests/testing")
RETRIES = Path(__file__).resolve().parents[1] / "histories" / "devhost_retries.json"


@pytest.fixture
def durable_app(durable_app_module: DurableApp) -> DurableApp:
    """One devhost for the whole module (durable_app_module): its settings are the same for
    every test, and each test reads only its own runs (the instance ids tests give are
    distinct); a replay stores nothing."""
    return durable_app_module


def _finished(run: RunHandle) -> list[dict[str, Any]]:
    assert run.wait().runtime_status == "Completed"
    return run.history(raw=True)


def _waiting(run: RunHandle, scheduled: int) -> list[dict[str, Any]]:
    """The history of a run still running: its calls done, waiting for the event "go"."""
    for _ in range(200):
        history = run.history(raw=True)
        if sum(e["EventType"] == 5 for e in history) == scheduled and \
                history[-1]["EventType"] == 13:  # OrchestratorCompleted: the episode is in
            assert run.status().runtime_status == "Running"
            return history
        run.wait(timeout=0.05)
    raise AssertionError(f"the run did not complete {scheduled} calls: {history}")


def test_entity_calls_replay_without_false_problems(durable_app: DurableApp) -> None:
    """HandleEventSentEvent: a signal and a call each hold a place (an EventSent named
    "op"), like an activity does."""
    history = _finished(durable_app.start("entity_calls", None, instance_id="ent-1"))
    assert [e["Name"] for e in history if e["EventType"] == 14] == ["op", "op"]
    replay = durable_app.replay("entity_calls", history)
    assert replay.problems == [], replay.problems
    assert replay.decisions == replay.recorded
    assert [d[0] for d in replay.decisions] == ["add", "add", "poll"]
    assert replay.decisions[0][2] == replay.decisions[1][2] == "@counter@ent-1"

    # Another operation on the same entity: Azure lets it through (it compares "op" with
    # "op") and hands the code the result of the old one: a problem here, not a crash there.
    other = durable_app.replay("entity_calls_other_operation", history)
    assert len(other.problems) == 1 and other.problems[0].startswith(
        "inputs or child instance ids differ"), other.problems

    # An activity where an entity call was recorded: NonDeterministicOrchestrationException
    # (the code gets no result for it, so it asks for nothing more).
    changed = durable_app.replay("entity_call_became_activity", history)
    assert changed.problems and changed.problems[0].startswith(
        "nondeterministic: the code schedules ['add on @counter@ent-1', 'poll'], "
        "history recorded ['add on @counter@ent-1', 'add on @counter@ent-1', 'poll']"), \
        changed.problems


def test_continue_as_new_takes_no_place_but_is_the_outcome(durable_app: DurableApp) -> None:
    """ProcessWorkflowCompletedTaskDecision: continuing as new completes the execution with a
    ContinueAsNewEvent (EventType 16) carrying the next input; it is not matched against a
    scheduled event."""
    history = _finished(durable_app.start("continues_once", None))
    assert next(e for e in history if e["EventType"] == 0)["Input"] == "1"  # the last one
    assert durable_app.replay("continues_once", history).problems == []

    # The edit continues where the recorded generation completed.
    more = durable_app.replay("continues_twice", history)
    assert more.decisions == more.recorded == [["poll", "1", None]]
    assert more.problems == ["history completed with output 1, the replay continues as "
                             "new with input 2"]

    # A generation that continued, as DurableTask.Core ends it.
    continued = [dict(e, EventType=16, OrchestrationStatus=2, Result="2")
                 if e["EventType"] == 1 else e for e in history]
    assert durable_app.replay("continues_twice", continued).problems == []
    assert durable_app.replay("continues_once", continued).problems == [
        "history continued as new with input 2, the replay completed with output 1"]


def _execution_id(history: list[dict[str, Any]]) -> str:
    return str(next(e for e in history if e["EventType"] == 0)
               ["OrchestrationInstance"]["ExecutionId"])


def test_a_child_without_an_instance_id_is_named_after_its_place(
        durable_app: DurableApp) -> None:
    """The SDK sends no id and the extension passes null on (DurableOrchestrationContext
    .CallDurableTaskFunctionAsync; NewGuid is only for StartNewOrchestration), so
    TaskOrchestrationContext.CreateSubOrchestrationInstanceCore (Azure/durabletask 5217032)
    names the child "<ExecutionId>:<task id>": the code's call asks for exactly that id."""
    history = _finished(durable_app.start("calls_child", None, instance_id="parent-1"))
    replay = durable_app.replay("calls_child", history)
    assert replay.problems == [] and replay.decisions == replay.recorded
    assert replay.decisions == [["continues_once", "null", f"{_execution_id(history)}:0"]]


def test_dropping_an_explicit_child_id_is_reported(durable_app: DurableApp) -> None:
    """CreateSubOrchestrationInstanceCore: without the id history recorded the child would be
    "<ExecutionId>:<task id>", another instance than the one the recorded result came from
    (DurableTask.Core does not compare ids, HandleSubOrchestrationCreatedEvent)."""
    history = _finished(durable_app.start("calls_child_with_id", None, instance_id="parent-2"))
    assert durable_app.replay("calls_child_with_id", history).problems == []
    dropped = durable_app.replay("calls_child", history)
    assert dropped.decisions == [["continues_once", "null", f"{_execution_id(history)}:0"]]
    assert dropped.recorded == [["continues_once", "null", "parent-2:child"]]
    assert len(dropped.problems) == 1 and dropped.problems[0].startswith(
        "inputs or child instance ids differ"), dropped.problems


def test_a_retried_child_without_an_id_is_one_call(durable_app: DurableApp) -> None:
    """RetryInterceptor.Invoke (via OrchestrationContext.CreateSubOrchestrationInstanceWithRetry)
    starts each attempt with a null id, so every attempt is its own "<ExecutionId>:<task id>"
    instance; they fold into the code's one retrying call, with the engine's retry timers."""
    history = _finished(durable_app.start("retries_child", None, instance_id="parent-3"))
    created = [e for e in history if e["EventType"] == 7]
    started_as = _execution_id(history)
    assert [e["InstanceId"] for e in created] == [f"{started_as}:{e['EventId']}"
                                                 for e in created]
    assert len(created) == 2 and created[0]["InstanceId"] != created[1]["InstanceId"]
    replay = durable_app.replay("retries_child", history)
    assert replay.problems == [], replay.problems
    assert replay.decisions == replay.recorded == [["fails", '"x"', f"{started_as}:0"]]


def test_a_timer_holds_a_place(durable_app: DurableApp) -> None:
    """TaskOrchestrationContext.CreateTimer numbers a timer like a call (idCounter++), and
    HandleTaskScheduledEvent / HandleTimerCreatedEvent (Azure/durabletask 5217032) throw
    NonDeterministicOrchestrationException when the action at a number has another type."""
    plain = _finished(durable_app.start("polls_once", None))
    waited = _finished(durable_app.start("waits_then_polls", None))
    assert durable_app.replay("waits_then_polls", waited).problems == []
    assert durable_app.replay("waits_then_polls", waited).decisions == [
        ["timer", None, None], ["poll", "1", None]]

    # A timer put before a recorded call: the timer's number holds the TaskScheduled (the
    # SDK hands the timer the call's recorded completion and goes on to the call).
    added = durable_app.replay("waits_then_polls", plain)
    assert added.problems and added.problems[0].startswith(
        "nondeterministic: the code schedules ['timer', 'poll'], history recorded ['poll']"), \
        added.problems

    # A recorded timer the code no longer creates.
    removed = durable_app.replay("polls_once", waited)
    assert removed.problems and removed.problems[0].startswith(
        "nondeterministic: the code schedules ['poll'], history recorded ['timer', 'poll']"), \
        removed.problems


def test_identical_calls_are_compared_one_by_one(durable_app: DurableApp) -> None:
    two = _waiting(durable_app.start("repeat_two", None), 2)
    three = _waiting(durable_app.start("repeat_three", None), 3)
    assert durable_app.replay("repeat_two", two).problems == []
    assert durable_app.replay("repeat_three", three).problems == []

    # 3 -> 2: a recorded call the code no longer makes (DurableTask.Core: "the current replay
    # execution hasn't (yet?) scheduled this task").
    fewer = durable_app.replay("repeat_two", three)
    assert len(fewer.recorded) == 3 and len(fewer.decisions) == 2
    assert fewer.problems and fewer.problems[0].startswith(
        "nondeterministic: the code schedules ['poll', 'poll'], history recorded "
        "['poll', 'poll', 'poll']"), fewer.problems

    # 2 -> 3: a call the recorded run never made; Azure schedules it as new work.
    more = durable_app.replay("repeat_three", two)
    assert more.problems == ["the code schedules more than history recorded: "
                             "[['poll', '\"same\"', None]] after the recorded 2"]


def test_retries_fold_only_into_a_call_that_retries() -> None:
    """A retried activity is scheduled again after its failure and a fired timer (the
    engine's retry, as RetryInterceptor.Invoke does it: the call, CreateTimer, the call): one
    place when the code's call carries a retry policy; code that catches, waits and calls
    again asks for every attempt and every timer itself (TaskOrchestrationContext
    .HandleTimerCreatedEvent)."""
    from devhost.durable.history import EventType
    from devhost.testing._replay import Place, compare, recorded_places

    fixture = next(f for f in json.loads(RETRIES.read_text(encoding="utf-8"))
                   if f["orchestrator"] == "retrying")
    recorded = recorded_places(fixture["history"])
    flaky = next(p.decision for p in recorded if p.name == "flaky")
    double = next(p.decision for p in recorded if p.name == "double")
    retried = Place(EventType.TASK_SCHEDULED, "flaky", flaky, retries=True)
    again = Place(EventType.TASK_SCHEDULED, "flaky", flaky)
    wait = Place(EventType.TIMER_CREATED, "timer", ("timer", None, None))
    last = Place(EventType.TASK_SCHEDULED, "double", double)
    _, kept, problems = compare([retried, last], recorded)
    assert problems == [] and [p.name for p in kept] == ["flaky", "double"]
    _, kept, problems = compare([again, wait, again, wait, again, last], recorded)
    assert problems == [] and [p.name for p in kept] == [
        "flaky", "timer", "flaky", "timer", "flaky", "double"]
    *_, problems = compare([again, again, again, last], recorded)
    assert problems[0].startswith("nondeterministic: the code schedules ['flaky', 'flaky', "
                                  "'flaky', 'double'], history recorded ['flaky', 'timer', "
                                  "'flaky', 'timer', 'flaky', 'double']")
    *_, problems = compare([again, last], recorded)
    assert problems[0].startswith("nondeterministic: the code schedules ['flaky', 'double'], "
                                  "history recorded ['flaky', 'timer', 'flaky', 'timer', "
                                  "'flaky', 'double']")
