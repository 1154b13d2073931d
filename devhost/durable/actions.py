"""Read the `actions` an orchestrator episode returns (OrchestratorState, replay schema V2+)."""

from __future__ import annotations

from dataclasses import dataclass
from enum import IntEnum
from typing import Any


class ActionType(IntEnum):
    CALL_ACTIVITY = 0
    CALL_ACTIVITY_WITH_RETRY = 1
    CALL_SUB_ORCHESTRATOR = 2
    CALL_SUB_ORCHESTRATOR_WITH_RETRY = 3
    CONTINUE_AS_NEW = 4
    CREATE_TIMER = 5
    WAIT_FOR_EXTERNAL_EVENT = 6
    CALL_ENTITY = 7
    CALL_HTTP = 8
    SIGNAL_ENTITY = 9
    WHEN_ANY = 11
    WHEN_ALL = 12


UNSUPPORTED = {ActionType.CALL_HTTP: "durable HTTP (call_http)"}
ENTITY_ACTIONS = (ActionType.CALL_ENTITY, ActionType.SIGNAL_ENTITY)


@dataclass(frozen=True)
class Action:
    type: ActionType
    raw: dict[str, Any]

    @property
    def function_name(self) -> str:
        return str(self.raw.get("functionName", ""))

    @property
    def input(self) -> Any:
        return self.raw.get("input")

    @property
    def retry(self) -> dict[str, Any] | None:
        return self.raw.get("retryOptions")


def sequenced_actions(actions: list[list[dict[str, Any]]]) -> list[Action]:
    """Flatten the episode's actions in the order the SDK numbered its tasks.

    Compound actions (task_all/task_any, and the WhenAll the SDK wraps around a retryable
    call) are expanded depth first; waits for external events are dropped because they are
    keyed by event name and take no sequence number.
    """
    flat: list[Action] = []

    def walk(raw: dict[str, Any]) -> None:
        kind = ActionType(raw["actionType"])
        if kind in (ActionType.WHEN_ALL, ActionType.WHEN_ANY):
            for child in raw.get("compoundActions", []):
                walk(child)
        elif kind is not ActionType.WAIT_FOR_EXTERNAL_EVENT:
            flat.append(Action(kind, raw))

    for group in actions:
        for raw in group:
            walk(raw)
    return flat
