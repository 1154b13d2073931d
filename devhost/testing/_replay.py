"""Replay a recorded orchestration history through the app's current orchestrator code, in
its worker process, and say where the code no longer makes the recorded decisions.

After a deploy every in-flight instance replays its history through the new code. DurableTask
.Core matches each scheduled event in history with the action the code produced at that
sequence number, and fails the instance with NonDeterministicOrchestrationException when the
action's type or name differs (TaskOrchestrationContext.HandleTaskScheduledEvent /
HandleSubOrchestrationCreatedEvent / HandleTimerCreatedEvent, Azure/durabletask 5217032; a
durable timer takes a number like any call, CreateTimer: idCounter++). It does not compare
inputs or child instance ids: a changed input replays silently with the result recorded for
the old one. Both are reported here. Every episode of the history is replayed; the actions
of the last one are compared one by one, in order, with the scheduled events and timers
history recorded, as the extension's out-of-proc shim hands them to DurableTask.Core
(OutOfProcOrchestrationShim.InvokeAPIFromAction, azure-functions-durable-extension a7c6d69):
an entity call or signal is an EventSent named "op" (HandleEventSentEvent); continue-as-new
completes the execution (ProcessWorkflowCompletedTaskDecision: a ContinueAsNewEvent) and is
compared as the outcome, with the output or failure of a history that ended. Nothing is
written to the durable store.
"""

from __future__ import annotations

from dataclasses import dataclass, replace
from typing import Any

from devhost.durable.actions import ENTITY_ACTIONS, ActionType, sequenced_actions
from devhost.durable.history import ORCHESTRATION_STATUS, EventType, RuntimeStatus, json_token
from devhost.durable.protocol import call_orchestrator, episodes, trigger_payload
from devhost.host.channel import Workers
from devhost.host.metadata import FunctionInfo

Decision = tuple[str, Any, Any]
_COMPLETED = ORCHESTRATION_STATUS[RuntimeStatus.COMPLETED]
_FAILED = ORCHESTRATION_STATUS[RuntimeStatus.FAILED]
_CONTINUED = ORCHESTRATION_STATUS[RuntimeStatus.CONTINUED_AS_NEW]
# The name DurableTask.Core compares for an entity call or signal: the extension sends each
# as an event named "op" (EntityMessageEventNames.RequestMessageEventName).
_ENTITY_EVENT = "op"
# Actions that take no place in the comparison: waits are keyed by event name (no sequence
# number, dropped by sequenced_actions); continue-as-new completes the execution (an
# OrchestrationCompleteOrchestratorAction, compared as the outcome).
_UNPLACED = (ActionType.CONTINUE_AS_NEW,)
# A timer's place: HandleTimerCreatedEvent checks only that the action at that number is a
# CreateTimerOrchestratorAction (a TimerCreated has no name; when it fires on replay is what
# the recorded TimerFired says), so its decision carries no fire time.
_TIMER = "timer"
_TIMER_DECISION: Decision = (_TIMER, None, None)
_FAILURES = (EventType.TASK_FAILED, EventType.SUB_ORCHESTRATION_FAILED)


class ReplayInputError(ValueError):
    """The history cannot be replayed (the message names the field)."""

    def __init__(self, message: str, field: str) -> None:
        super().__init__(message)
        self.field = field


@dataclass(frozen=True)
class Place:
    """One sequenced decision: what DurableTask.Core compares (`kind`, `name`) and what it
    lets through unnoticed (`decision`: function or operation, input, child or entity id)."""

    kind: EventType
    name: str
    decision: Decision
    retries: bool = False  # the code's action carries a retry policy
    retry_of: int | None = None  # recorded: the place whose failed attempt this repeats
    event_id: int | None = None  # recorded: the sequence number (EventId) history gave it

    @property
    def label(self) -> str:
        function, _, target = self.decision
        return f"{function} on {target}" if self.kind is EventType.EVENT_SENT else str(function)


def code_places(state: dict[str, Any] | None) -> list[Place]:
    """The sequenced actions of the code's last episode, as the extension's shim issues them
    (OutOfProcOrchestrationShim.InvokeAPIFromAction)."""
    places = []
    for a in sequenced_actions((state or {}).get("actions") or []):
        if a.type in _UNPLACED:
            continue
        if a.type is ActionType.CREATE_TIMER:
            places.append(Place(EventType.TIMER_CREATED, _TIMER, _TIMER_DECISION))
        elif a.type in ENTITY_ACTIONS:
            places.append(Place(EventType.EVENT_SENT, _ENTITY_EVENT, (
                str(a.raw.get("operation") or ""), a.input, a.raw.get("instanceId"))))
        elif a.type in (ActionType.CALL_SUB_ORCHESTRATOR,
                        ActionType.CALL_SUB_ORCHESTRATOR_WITH_RETRY):
            places.append(Place(EventType.SUB_ORCHESTRATION_CREATED, a.function_name, (
                a.function_name, a.input, a.raw.get("instanceId")), a.retry is not None))
        else:
            places.append(Place(EventType.TASK_SCHEDULED, a.function_name, (
                a.function_name, a.input, None), a.retry is not None))
    return places


def _recorded_place(ev: dict[str, Any]) -> Place:
    kind = EventType(ev["EventType"])
    name = str(ev.get("Name", ""))
    event_id = ev.get("EventId")
    if kind is EventType.EVENT_SENT:
        request = json_token(ev.get("Input"))
        request = request if isinstance(request, dict) else {}
        operation = request.get("op", name) if request else name
        return Place(kind, name, (operation, json_token(request.get("input")),
                                  ev.get("InstanceId")), event_id=event_id)
    target = ev.get("InstanceId") if kind is EventType.SUB_ORCHESTRATION_CREATED else None
    return Place(kind, name, (name, ev.get("Input"), target), event_id=event_id)


def generated_child_id(execution_id: str, event_id: int | None) -> str:
    """The id of a child started without one: TaskOrchestrationContext
    .CreateSubOrchestrationInstanceCore names it "<parent ExecutionId>:<its task id>" (the
    extension passes the SDK's missing id on as null)."""
    return f"{execution_id}:{event_id}"


def _attempt_key(place: Place, execution_id: str) -> tuple[Any, ...]:
    """What every attempt of one retried call shares. A child started without an id gets a
    new one per attempt (RetryInterceptor.Invoke calls CreateSubOrchestrationInstance with a
    null id again, OrchestrationContext.CreateSubOrchestrationInstanceWithRetry), so such
    children are one call by (kind, name, input)."""
    function, value, target = place.decision
    if place.kind is EventType.SUB_ORCHESTRATION_CREATED and \
            target == generated_child_id(execution_id, place.event_id):
        target = None
    return place.kind, function, value, target


def execution_id(history: list[dict[str, Any]]) -> str:
    """The ExecutionId of the execution history ends in (its last ExecutionStarted)."""
    for ev in reversed(history):
        if ev.get("EventType") == EventType.EXECUTION_STARTED:
            return str((ev.get("OrchestrationInstance") or {}).get("ExecutionId") or "")
    return ""


def recorded_places(history: list[dict[str, Any]]) -> list[Place]:
    """The scheduled events and timers of history in sequence. A call scheduled again after
    its failed attempt and a timer fired since is marked as a possible retry of it, and so is
    the first timer recorded after a failed attempt: both are folded in when the code's call
    carries a retry policy (the engine's retry, RetryInterceptor.Invoke: failure, CreateTimer,
    the call again; after the last failure a back-compat timer)."""
    places: list[Place] = []
    started_as = execution_id(history)
    latest: dict[tuple[Any, ...], tuple[int, int]] = {}  # call -> (place, last attempt's id)
    head_of: dict[int, int] = {}  # an attempt's EventId -> the place of its first attempt
    failed: set[int] = set()
    awaiting_timer: list[int] = []  # failed attempts whose retry timer is not recorded yet
    fired_after_failure: dict[int, bool] = {}  # last attempt id -> a timer fired since
    for ev in history:
        kind = ev.get("EventType")
        if kind in _FAILURES:
            attempt = ev.get("TaskScheduledId", -1)
            failed.add(attempt)
            fired_after_failure[attempt] = False
            if attempt in head_of:
                awaiting_timer.append(attempt)
        elif kind == EventType.TIMER_FIRED:
            for attempt in fired_after_failure:
                fired_after_failure[attempt] = True
        elif kind == EventType.TIMER_CREATED:
            retry_of = head_of[awaiting_timer.pop(0)] if awaiting_timer else None
            places.append(Place(EventType.TIMER_CREATED, _TIMER, _TIMER_DECISION,
                                retry_of=retry_of, event_id=ev.get("EventId")))
        elif kind in (EventType.TASK_SCHEDULED, EventType.SUB_ORCHESTRATION_CREATED,
                      EventType.EVENT_SENT):
            place = _recorded_place(ev)
            key = _attempt_key(place, started_as)
            previous = latest.get(key) if kind != EventType.EVENT_SENT else None
            retry_of = None
            if previous is not None and previous[1] in failed and \
                    fired_after_failure.get(previous[1]):
                retry_of = previous[0]
            head = retry_of if retry_of is not None else len(places)
            places.append(replace(place, retry_of=retry_of))
            latest[key] = (head, ev.get("EventId", -1))
            head_of[ev.get("EventId", -1)] = head
    return places


def recorded_decisions(history: list[dict[str, Any]]) -> list[Decision]:
    """What the orchestrator asked for, as history recorded it (possible retries folded)."""
    return [p.decision for p in recorded_places(history) if p.retry_of is None]


def _with_generated_id(place: Place, recorded: Place, started_as: str) -> Place:
    """A child started without an instance id is named by DurableTask.Core from the task id
    at its place (generated_child_id): the code's call asks for the id its place gives, so a
    call that dropped the explicit id history recorded is reported."""
    function, value, child = place.decision
    if place.kind is EventType.SUB_ORCHESTRATION_CREATED and child is None and \
            recorded.kind is place.kind:
        return replace(place, decision=(function, value,
                                        generated_child_id(started_as, recorded.event_id)))
    return place


def compare(code: list[Place], recorded: list[Place], started_as: str = ""
            ) -> tuple[list[Place], list[Place], list[str]]:
    """Each of the code's places against the recorded one at its place, in order (retries
    folded where the code's call retries); `started_as` is the execution's ExecutionId, which
    names children started without an id. → the code's places, the recorded places compared,
    and problems."""
    retrying: set[int] = set()
    kept: list[Place] = []
    at = 0
    code = list(code)
    for n, place in enumerate(code):
        while at < len(recorded) and recorded[at].retry_of in retrying:
            at += 1
        if at == len(recorded):
            break
        if place.retries:
            retrying.add(at)
        code[n] = _with_generated_id(place, recorded[at], started_as)
        kept.append(recorded[at])
        at += 1
    kept.extend(p for p in recorded[at:] if p.retry_of is None or p.retry_of not in retrying)
    problems = []
    same_place = [(c.kind, c.name.lower()) for c in code[:len(kept)]] == \
        [(r.kind, r.name.lower()) for r in kept[:len(code)]]
    if not same_place or len(kept) > len(code):
        problems.append(f"nondeterministic: the code schedules {[p.label for p in code]}, "
                        f"history recorded {[p.label for p in kept]} (in-flight instances "
                        "fail with NonDeterministicOrchestrationException)")
    elif [c.decision for c in code[:len(kept)]] != [r.decision for r in kept]:
        problems.append(f"inputs or child instance ids differ: the code asks for "
                        f"{[list(p.decision) for p in code]}, history recorded "
                        f"{[list(p.decision) for p in kept]} (in-flight instances would get "
                        "the results recorded for the old calls)")
    if not problems and len(code) > len(kept):
        problems.append(f"the code schedules more than history recorded: "
                        f"{[list(p.decision) for p in code[len(kept):]]} after the recorded "
                        f"{len(kept)}")
    return code, kept, problems


def _started(history: list[dict[str, Any]]) -> dict[str, Any]:
    for ev in history:
        if ev.get("EventType") == EventType.EXECUTION_STARTED:
            return ev
    raise ReplayInputError("history has no ExecutionStarted event (EventType 0)", "history")


def _recorded_outcome(history: list[dict[str, Any]]) -> tuple[str, Any] | None:
    """('Completed', output) / ('Failed', reason) / ('ContinuedAsNew', next input), or None
    for an instance still running (or terminated). DurableTask.Core records a failure as
    ExecutionCompleted with OrchestrationStatus Failed (older histories: ExecutionFailed) and
    a generation that continued as a ContinueAsNewEvent carrying the next input
    (TaskOrchestrationDispatcher.ProcessWorkflowCompletedTaskDecision)."""
    for ev in reversed(history):
        kind = ev.get("EventType")
        status = ev.get("OrchestrationStatus", _COMPLETED)
        if kind == EventType.CONTINUE_AS_NEW or (
                kind == EventType.EXECUTION_COMPLETED
                and status in (_CONTINUED, RuntimeStatus.CONTINUED_AS_NEW)):
            return RuntimeStatus.CONTINUED_AS_NEW, json_token(ev.get("Result"))
        if kind == EventType.EXECUTION_COMPLETED:
            if status in (_COMPLETED, RuntimeStatus.COMPLETED):
                return RuntimeStatus.COMPLETED, json_token(ev.get("Result"))
            if status in (_FAILED, RuntimeStatus.FAILED):
                return RuntimeStatus.FAILED, ev.get("Result")
            return None
        if kind == EventType.EXECUTION_FAILED:
            return RuntimeStatus.FAILED, ev.get("Reason")
    return None


def _continued_with(state: dict[str, Any] | None) -> tuple[bool, Any]:
    for action in sequenced_actions((state or {}).get("actions") or []):
        if action.type is ActionType.CONTINUE_AS_NEW:
            return True, json_token(action.input)
    return False, None


def outcome_problems(history: list[dict[str, Any]], final: dict[str, Any] | None,
                     error: str | None) -> list[str]:
    """Where the replay's end differs from the one history recorded (none while running)."""
    outcome = _recorded_outcome(history)
    if outcome is None:
        return []
    recorded_as, recorded = outcome
    continued, next_input = _continued_with(final) if error is None else (False, None)
    output = (final or {}).get("output")
    ended = (f"failed: {error}" if error is not None else
             f"continues as new with input {next_input!r}" if continued else
             f"completed with output {output!r}" if (final or {}).get("isDone") else
             "is still running")
    if recorded_as == RuntimeStatus.FAILED:
        return [] if error is not None else [f"history recorded a failure, the replay {ended}"]
    if recorded_as == RuntimeStatus.CONTINUED_AS_NEW:
        if not continued:
            return [f"history continued as new with input {recorded!r}, the replay {ended}"]
        if next_input != recorded:
            return [f"continue-as-new input differs: {next_input!r}, history recorded "
                    f"{recorded!r}"]
        return []
    if error is not None:
        return [f"history completed, the replay failed: {error}"]
    if continued:
        return [f"history completed with output {recorded!r}, the replay {ended}"]
    if output != recorded:
        return [f"output differs: {output!r}, history recorded {recorded!r}"]
    return []


def validate(history: Any) -> list[dict[str, Any]]:
    if not isinstance(history, list) or not all(isinstance(e, dict) for e in history):
        raise ReplayInputError("history must be a list of history events (objects)", "history")
    for n, ev in enumerate(history):
        if not isinstance(ev.get("EventType"), int):
            raise ReplayInputError(f"history[{n}].EventType must be a number (DurableTask's "
                                   "HistoryEvent JSON, as run.history(raw=True) returns it)",
                                   "history")
    return history


async def replay(workers: Workers, fn: FunctionInfo, history: list[dict[str, Any]]
                 ) -> dict[str, Any]:
    """Every episode of `history` through `fn`; the answer the `Replay` of the API reads."""
    started = _started(history)
    instance = started.get("OrchestrationInstance") or {}
    parent = (started.get("ParentInstance") or {}).get("OrchestrationInstance") or {}
    states = [await call_orchestrator(workers, fn, trigger_payload(
        str(instance.get("InstanceId", "")), parent.get("InstanceId"), started.get("Input"),
        past, new)) for past, new in episodes(
            [e for e in history if e.get("EventType") != EventType.CONTINUE_AS_NEW])]
    final, error = states[-1] if states else (None, "history has no episode")
    code, recorded, problems = compare(code_places(final) if final is not None else [],
                                       recorded_places(history), execution_id(history))
    return {"decisions": [list(p.decision) for p in code],
            "recorded": [list(p.decision) for p in recorded],
            "output": (final or {}).get("output"), "error": error,
            "problems": problems + outcome_problems(history, final, error)}
