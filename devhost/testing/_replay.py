"""Replay a recorded orchestration history through the app's current orchestrator code, in
its worker process, and say where the code no longer makes the recorded decisions.

After a deploy every in-flight instance replays its history through the new code. DurableTask
.Core matches each scheduled event in history with the action the code produced at that
sequence number, and fails the instance with NonDeterministicOrchestrationException when the
action's type or name differs (TaskOrchestrationContext.HandleTaskScheduledEvent /
HandleSubOrchestrationCreatedEvent, Azure/durabletask 5217032). It does not compare inputs or
child instance ids: a changed input replays silently with the result recorded for the old one.
Both are reported here. Every episode of the history is replayed; the actions of the last one
are compared with what history recorded (retried activities folded in) and, when the history
ended, the outcome too. Nothing is written to the durable store.
"""

from __future__ import annotations

import json
from typing import Any

from ..durable.actions import ActionType, sequenced_actions
from ..durable.history import ORCHESTRATION_STATUS, EventType
from ..durable.protocol import call_orchestrator, episodes, trigger_payload
from ..functions.app import FunctionInfo
from ..functions.channel import Workers

Decision = tuple[str, Any, Any]
_COMPLETED = ORCHESTRATION_STATUS["Completed"]
_FAILED = ORCHESTRATION_STATUS["Failed"]


class ReplayInputError(ValueError):
    """The history cannot be replayed (the message names the field)."""

    def __init__(self, message: str, field: str) -> None:
        super().__init__(message)
        self.field = field


def recorded_decisions(history: list[dict[str, Any]]) -> list[Decision]:
    """What the orchestrator asked for, as history recorded it: (function, input, child
    instance id). A retried activity is scheduled again with the same input: one decision."""
    seen: dict[Decision, None] = {}
    for ev in history:
        if ev.get("EventType") == EventType.TASK_SCHEDULED:
            seen[(ev.get("Name", ""), ev.get("Input"), None)] = None
        elif ev.get("EventType") == EventType.SUB_ORCHESTRATION_CREATED:
            seen[(ev.get("Name", ""), ev.get("Input"), ev.get("InstanceId"))] = None
    return list(seen)


def _started(history: list[dict[str, Any]]) -> dict[str, Any]:
    for ev in history:
        if ev.get("EventType") == EventType.EXECUTION_STARTED:
            return ev
    raise ReplayInputError("history has no ExecutionStarted event (EventType 0)", "history")


def _recorded_outcome(history: list[dict[str, Any]]) -> tuple[str, Any] | None:
    """('Completed', output) / ('Failed', reason), or None for an instance still running (or
    one ended otherwise: terminated, continued as new). DurableTask.Core records a failure as
    ExecutionCompleted with OrchestrationStatus Failed; older histories as ExecutionFailed."""
    for ev in reversed(history):
        if ev.get("EventType") == EventType.EXECUTION_COMPLETED:
            status = ev.get("OrchestrationStatus", _COMPLETED)
            if status in (_COMPLETED, "Completed"):
                result = ev.get("Result")
                return "Completed", json.loads(result) if isinstance(result, str) else result
            if status in (_FAILED, "Failed"):
                return "Failed", ev.get("Result")
            return None
        if ev.get("EventType") == EventType.EXECUTION_FAILED:
            return "Failed", ev.get("Reason")
    return None


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
        past, new)) for past, new in episodes(history)]
    final, error = states[-1] if states else (None, "history has no episode")
    decisions: list[Decision] = []
    if final is not None:
        asked = [(a.function_name, a.input, a.raw.get("instanceId"))
                 for a in sequenced_actions(final.get("actions") or [])
                 if a.type is not ActionType.CREATE_TIMER]
        decisions = list(dict.fromkeys(asked))
    recorded = recorded_decisions(history)
    problems = []
    if decisions != recorded:
        names = [str(d[0]).lower() for d in decisions]
        if names != [str(r[0]).lower() for r in recorded]:
            problems.append(f"nondeterministic: the code schedules {[d[0] for d in decisions]}, "
                            f"history recorded {[r[0] for r in recorded]} (in-flight instances "
                            "fail with NonDeterministicOrchestrationException)")
        else:
            problems.append(f"inputs or child instance ids differ: the code asks for "
                            f"{decisions}, history recorded {recorded} (in-flight instances "
                            "would get the results recorded for the old calls)")
    outcome = _recorded_outcome(history)
    output = (final or {}).get("output")
    if outcome is not None and outcome[0] == "Completed":
        if error is not None:
            problems.append(f"history completed, the replay failed: {error}")
        elif output != outcome[1]:
            problems.append(f"output differs: {output!r}, history recorded {outcome[1]!r}")
    elif outcome is not None and error is None:
        problems.append("history recorded a failure, the replay did not fail")
    return {"decisions": [list(d) for d in decisions], "recorded": [list(d) for d in recorded],
            "output": output, "error": error, "problems": problems}
