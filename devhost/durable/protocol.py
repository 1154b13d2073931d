"""The orchestration trigger payload the Durable extension sends to out-of-process SDKs."""

from __future__ import annotations

import json
from collections.abc import Callable, Iterator
from datetime import UTC, datetime
from typing import Any

from devhost.durable.history import Event, EventType
from devhost.host import typed
from devhost.host.channel import Invocation, Outcome, Workers
from devhost.host.logs import function_result_failed
from devhost.host.metadata import FunctionInfo
from devhost.host.requests import invoke_as_request

OUT_OF_PROC_LABEL = "\n\n$OutOfProcData$:"
# ReplaySchema V3: one flat action list per episode (plus compound actions).
UPPER_SCHEMA_VERSION = 2


def trigger_payload(instance_id: str, parent_instance_id: str | None, input_json: str | None,
                    past: list[Event], new: list[Event]) -> dict[str, Any]:
    return {
        "history": [dict(e, IsPlayed=True) for e in past] + [dict(e, IsPlayed=False) for e in new],
        "instanceId": instance_id,
        "isReplaying": bool(past),
        "parentInstanceId": parent_instance_id,
        "input": input_json,
        "upperSchemaVersion": UPPER_SCHEMA_VERSION,
        "upperSchemaVersionNew": UPPER_SCHEMA_VERSION,
    }


def orchestrator_invocation(fn: FunctionInfo, payload: dict[str, Any], traceparent: str = "",
                            tracestate: str = "", attributes: dict[str, str] | None = None
                            ) -> Invocation:
    """The extension binds the orchestration context to the trigger as a JSON string."""
    return Invocation(fn, [typed.binding(fn.trigger.name, typed.string(json.dumps(payload)))],
                      traceparent, tracestate, attributes=attributes)


def orchestrator_result(outcome: Outcome) -> tuple[dict[str, Any] | None, str | None]:
    """An episode's InvocationResponse → (OrchestratorState, error message).

    The SDK returns the state as the `$return` value; an orchestrator exception fails the
    invocation with the state appended to the exception message after a marker, which is
    split back into the message and the state, as the extension does
    (OutOfProcOrchestrationShim / TaskOrchestrationShim).
    """
    if outcome.ok:
        text = typed.text(outcome.return_value)
        return (json.loads(text) if text else None), None
    message, _, state_json = outcome.error.partition(OUT_OF_PROC_LABEL)
    return (json.loads(state_json) if state_json else None), message or "orchestrator failed"


async def call_orchestrator(workers: Workers, fn: FunctionInfo, payload: dict[str, Any],
                            traceparent: str = "", tracestate: str = "",
                            attributes: dict[str, str] | None = None, *,
                            as_request: bool = False,
                            on_invoke: Callable[[Invocation], None] | None = None
                            ) -> tuple[dict[str, Any] | None, str | None]:
    """Run one episode through the app's orchestrator in the worker. `as_request`: no
    DurableTask Activity (tracing V2 off), so the WebJobs logger tracks the invocation as a
    request of its own (devhost/host/requests.py), replays included. `on_invoke` sees the
    invocation as the worker gets it, once the function's scope begins."""
    invocation = orchestrator_invocation(fn, payload, traceparent, tracestate, attributes)
    if as_request:
        return orchestrator_result(await invoke_as_request(workers, invocation, on_invoke))
    if on_invoke is not None:
        on_invoke(invocation)
    began = datetime.now(UTC)
    outcome = await workers.invoke(invocation)
    if not outcome.ok:  # LogFunctionResult, under the orchestration's V2 span
        function_result_failed(fn.name, invocation.invocation_id, outcome.error,
                               outcome.stack_trace, traceparent, began, datetime.now(UTC))
    return orchestrator_result(outcome)


def episodes(history: list[Event]) -> Iterator[tuple[list[Event], list[Event]]]:
    """Split a stored history into the (past, new) pairs each episode was run with."""
    starts = [i for i, e in enumerate(history) if e["EventType"] == EventType.ORCHESTRATOR_STARTED]
    for n, start in enumerate(starts):
        end = starts[n + 1] if n + 1 < len(starts) else len(history)
        new = [e for e in history[start:end] if e["EventType"] not in _WRITTEN_BY_EPISODE]
        yield history[:start], new


# Events an episode writes as its outcome, not events it consumes.
_WRITTEN_BY_EPISODE = {EventType.ORCHESTRATOR_COMPLETED, EventType.TASK_SCHEDULED,
                       EventType.SUB_ORCHESTRATION_CREATED, EventType.TIMER_CREATED,
                       EventType.EVENT_SENT, EventType.EXECUTION_COMPLETED,
                       EventType.EXECUTION_FAILED}


def replay_all(workers: Workers, fn: FunctionInfo, instance_id: str, parent_instance_id: str | None,
               input_json: str | None, history: list[Event]
               ) -> list[tuple[dict[str, Any] | None, str | None]]:
    """Re-run every episode of a recorded history through the orchestrator, in order.

    Used to check that orchestrator code still makes the decisions recorded in history
    (replay determinism) and that replaying it has no side effects.
    """
    return [orchestrator_result(workers.invoke_sync(orchestrator_invocation(
        fn, trigger_payload(instance_id, parent_instance_id, input_json, past, new))))
        for past, new in episodes(history)]
