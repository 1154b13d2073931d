"""History events in the JSON shape the Durable extension hands to out-of-process SDKs.

Field names follow DurableTask.Core's HistoryEvent classes (PascalCase), which is what
`azure.durable_functions.models.history.HistoryEvent` reads.
"""

from __future__ import annotations

from datetime import UTC, datetime
from enum import IntEnum
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


def utcnow() -> datetime:
    return datetime.now(UTC)


def iso(ts: datetime) -> str:
    return ts.astimezone(UTC).strftime("%Y-%m-%dT%H:%M:%S.%fZ")


def event(kind: EventType, event_id: int = -1, timestamp: datetime | None = None,
          **fields: Any) -> Event:
    return {"EventType": int(kind), "EventId": event_id,
            "Timestamp": iso(timestamp or utcnow()), **fields}


def execution_started(name: str, instance_id: str, execution_id: str, input_json: str | None,
                      parent: dict[str, Any] | None = None) -> Event:
    return event(EventType.EXECUTION_STARTED, Name=name, Input=input_json, Version="",
                 OrchestrationInstance={"InstanceId": instance_id, "ExecutionId": execution_id},
                 ParentInstance=parent)


def is_scheduling(ev: Event) -> bool:
    """Events that consume an orchestration sequence number (the SDK's task ids)."""
    return ev["EventType"] in (EventType.TASK_SCHEDULED, EventType.SUB_ORCHESTRATION_CREATED,
                               EventType.TIMER_CREATED, EventType.EVENT_SENT)
