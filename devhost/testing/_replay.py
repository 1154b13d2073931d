"""Replay a recorded orchestration history through the app's current orchestrator code, in
its worker process, and say where the code no longer makes the recorded decisions.

This is what the Durable extension does to every in-flight instance after a deploy: each
episode re-runs the orchestrator over the events recorded so far, and the Durable Task
framework fails the instance with a nondeterminism error when the actions the code returns
no longer match the scheduled events in history (DurableTask.Core TaskOrchestrationExecutor
/ OutOfProcOrchestrationShim). Here every episode of the history is replayed, the actions
of the last one compared with what history recorded (retried activities folded in), and,
when the history ends, the outcome compared too. Nothing is written to the durable store.
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
        problems.append(f"decisions differ: the code asks for {decisions}, history recorded "
                        f"{recorded}")
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
