"""History events in the JSON shape the Durable extension hands to out-of-process SDKs.

Field names follow DurableTask.Core's HistoryEvent classes (PascalCase), which is what
`azure.durable_functions.models.history.HistoryEvent` reads.
"""

from __future__ import annotations

import json
from datetime import UTC, datetime
from enum import IntEnum, StrEnum
from typing import Any

Event = dict[str, Any]


class EventType(IntEnum):
    # Mirrors azure.durable_functions HistoryEventType; kept here so the store does not
    # depend on SDK internals for its own bookkeeping.
    EXECUTION_STARTED = 0
    EXECUTION_COMPLETED = 1
    EXECUTION_FAILED = 2
    EXECUTION_TERMINATED = 3
    TASK_SCHEDULED = 4
    TASK_COMPLETED = 5
    TASK_FAILED = 6
    SUB_ORCHESTRATION_CREATED = 7
    SUB_ORCHESTRATION_COMPLETED = 8
    SUB_ORCHESTRATION_FAILED = 9
    TIMER_CREATED = 10
    TIMER_FIRED = 11
    ORCHESTRATOR_STARTED = 12
    ORCHESTRATOR_COMPLETED = 13
    EVENT_SENT = 14
    EVENT_RAISED = 15
    CONTINUE_AS_NEW = 16
    GENERIC_EVENT = 17
    HISTORY_STATE = 18
    EXECUTION_SUSPENDED = 19
    EXECUTION_RESUMED = 20
    EXECUTION_REWOUND = 21


# What an orchestration waits on that another dispatcher answers, and those answers
# (DurableTask.Core: a TaskScheduled is answered by the TaskCompleted or TaskFailed that
# TaskActivityDispatcher sends back; a SubOrchestrationInstanceCreated by the
# SubOrchestrationInstanceCompleted or -Failed the child's TaskOrchestrationDispatcher sends).
# Timers are left out: they fire at their time, which no waiting brings forward.
_AWAITED = frozenset({EventType.TASK_SCHEDULED, EventType.SUB_ORCHESTRATION_CREATED})
ANSWER_TYPES = frozenset({EventType.TASK_COMPLETED, EventType.TASK_FAILED,
                          EventType.SUB_ORCHESTRATION_COMPLETED,
                          EventType.SUB_ORCHESTRATION_FAILED})


def awaited_answers(events: list[Event]) -> int:
    """How many activities and sub-orchestrations the history scheduled and has no answer
    for yet."""
    return sum(1 if e["EventType"] in _AWAITED else -1 if e["EventType"] in ANSWER_TYPES else 0
               for e in events)


def utcnow() -> datetime:
    return datetime.now(UTC)


def iso(ts: datetime) -> str:
    return ts.astimezone(UTC).strftime("%Y-%m-%dT%H:%M:%S.%fZ")


def event(kind: EventType, event_id: int = -1, timestamp: datetime | None = None,
          **fields: Any) -> Event:
    return {"EventType": int(kind), "EventId": event_id,
            "Timestamp": iso(timestamp or utcnow()), **fields}


def execution_started(name: str, instance_id: str, execution_id: str, input_json: str | None,
                      parent: dict[str, Any] | None = None, version: str = "") -> Event:
    return event(EventType.EXECUTION_STARTED, Name=name, Input=input_json, Version=version,
                 OrchestrationInstance={"InstanceId": instance_id, "ExecutionId": execution_id},
                 ParentInstance=parent)


# The results that tell an orchestration a task it scheduled failed (and drive its retry).
FAILURES = (EventType.SUB_ORCHESTRATION_FAILED, EventType.TASK_FAILED)

# DurableTask.Core/History/EventType.cs names, as the status API spells them.
DTF_NAMES = {
    EventType.EXECUTION_STARTED: "ExecutionStarted",
    EventType.EXECUTION_COMPLETED: "ExecutionCompleted",
    EventType.EXECUTION_FAILED: "ExecutionFailed",
    EventType.EXECUTION_TERMINATED: "ExecutionTerminated",
    EventType.TASK_SCHEDULED: "TaskScheduled",
    EventType.TASK_COMPLETED: "TaskCompleted",
    EventType.TASK_FAILED: "TaskFailed",
    EventType.SUB_ORCHESTRATION_CREATED: "SubOrchestrationInstanceCreated",
    EventType.SUB_ORCHESTRATION_COMPLETED: "SubOrchestrationInstanceCompleted",
    EventType.SUB_ORCHESTRATION_FAILED: "SubOrchestrationInstanceFailed",
    EventType.TIMER_CREATED: "TimerCreated",
    EventType.TIMER_FIRED: "TimerFired",
    EventType.ORCHESTRATOR_STARTED: "OrchestratorStarted",
    EventType.ORCHESTRATOR_COMPLETED: "OrchestratorCompleted",
    EventType.EVENT_SENT: "EventSent",
    EventType.EVENT_RAISED: "EventRaised",
    EventType.CONTINUE_AS_NEW: "ContinueAsNew",
    EventType.GENERIC_EVENT: "GenericEvent",
    EventType.HISTORY_STATE: "HistoryState",
    EventType.EXECUTION_SUSPENDED: "ExecutionSuspended",
    EventType.EXECUTION_RESUMED: "ExecutionResumed",
    EventType.EXECUTION_REWOUND: "ExecutionRewound",
}


class RuntimeStatus(StrEnum):
    """An instance's runtime status, named as DurableTask.Core/OrchestrationStatus.cs names
    them (the extension's OrchestrationRuntimeStatus and the status API's `runtimeStatus`
    spell them the same). A StrEnum, so the store's `runtime_status` column and every JSON
    body hold exactly the text they held as plain strings."""

    RUNNING = "Running"
    COMPLETED = "Completed"
    CONTINUED_AS_NEW = "ContinuedAsNew"
    FAILED = "Failed"
    CANCELED = "Canceled"
    TERMINATED = "Terminated"
    PENDING = "Pending"
    SUSPENDED = "Suspended"


# DurableTask.Core/OrchestrationStatus.cs values, in the enum's (and the file's) order. Keyed
# by str: a RuntimeStatus is one, and so is a name read from a request.
ORCHESTRATION_STATUS: dict[str, int] = {s: value for value, s in enumerate(RuntimeStatus)}
_STATUS_NAMES = {v: k for k, v in ORCHESTRATION_STATUS.items()}


def execution_completed(status: RuntimeStatus, result_json: str | None,
                        failure: str | None = None) -> Event:
    """ExecutionCompletedEvent: how DurableTask.Core records the end of an execution, failed
    ones included (OrchestrationStatus Failed, FailureDetails), never ExecutionFailed."""
    fields: dict[str, Any] = {"OrchestrationStatus": ORCHESTRATION_STATUS[status],
                              "Result": result_json}
    if failure is not None:
        fields["FailureDetails"] = {"ErrorType": "OrchestrationFailureException",
                                    "ErrorMessage": failure}
    return event(EventType.EXECUTION_COMPLETED, **fields)


def json_or_none(text: str | None) -> Any:
    """A stored JSON text (input, output, custom status) as its value; no text is None."""
    return None if text is None else json.loads(text)


def json_token(text: Any) -> Any:
    """ConvertOutputToJToken: a JSON string value becomes the JSON it holds."""
    if not isinstance(text, str):
        return text
    try:
        return json.loads(text)
    except json.JSONDecodeError:
        return text


def public_history(events: list[Event], show_history_output: bool = False,
                   show_input: bool = True) -> list[dict[str, Any]]:
    """`historyEvents` as DurableClient.GetDurableOrchestrationStatusAsync shapes them
    (extension 2.13.7, unchanged on the v3.x branch 92fecfc): event types by name;
    TaskScheduled / SubOrchestrationInstanceCreated merged into their completion
    (FunctionName, ScheduledTime, Input); ExecutionStarted's Name as FunctionName; results
    only with showHistoryOutput; inputs unless showInput is false; no EventId, IsPlayed,
    TimerId, TaskScheduledId; no Orchestrator* events."""
    items = [dict(e) for e in events]
    scheduled: dict[str, tuple[int, dict[str, Any]]] = {}
    dropped: set[int] = set()
    for i, item in enumerate(items):
        kind = item["EventType"]
        item["EventType"] = DTF_NAMES.get(kind, str(kind))
        if kind in (EventType.TASK_SCHEDULED, EventType.SUB_ORCHESTRATION_CREATED):
            scheduled[f"{kind}_{item.get('EventId')}"] = (i, item)
            item.pop("Version", None)
        elif kind in (EventType.TASK_COMPLETED, EventType.TASK_FAILED,
                      EventType.SUB_ORCHESTRATION_COMPLETED, EventType.SUB_ORCHESTRATION_FAILED):
            origin = (EventType.TASK_SCHEDULED if kind in (EventType.TASK_COMPLETED,
                                                            EventType.TASK_FAILED)
                      else EventType.SUB_ORCHESTRATION_CREATED)
            found = scheduled.get(f"{origin}_{item.get('TaskScheduledId')}")
            if found is not None:
                index, source = found
                item["ScheduledTime"] = source["Timestamp"]
                item["FunctionName"] = source.get("Name")
                if show_input:
                    item["Input"] = source.get("Input")
                dropped.add(index)
            item.pop("TaskScheduledId", None)
            succeeded = kind in (EventType.TASK_COMPLETED, EventType.SUB_ORCHESTRATION_COMPLETED)
            if succeeded and show_history_output:
                item["Result"] = json_token(item.get("Result"))
            elif succeeded:
                item.pop("Result", None)
        elif kind == EventType.EXECUTION_STARTED:
            item["FunctionName"] = item.pop("Name", None)
            for key in ("OrchestrationInstance", "ParentInstance", "Version", "Tags"):
                item.pop(key, None)
        elif kind == EventType.EXECUTION_COMPLETED:
            status = item.get("OrchestrationStatus")
            item["OrchestrationStatus"] = (_STATUS_NAMES.get(status, status)
                                           if isinstance(status, int) else status)
            if show_history_output:
                item["Result"] = json_token(item.get("Result"))
            else:
                item.pop("Result", None)
        elif kind == EventType.TIMER_FIRED:
            item.pop("TimerId", None)
        elif kind in (EventType.ORCHESTRATOR_STARTED, EventType.ORCHESTRATOR_COMPLETED):
            dropped.add(i)
        if not show_input:
            item.pop("Input", None)
        item.pop("EventId", None)
        item.pop("IsPlayed", None)
    return [item for i, item in enumerate(items) if i not in dropped]
