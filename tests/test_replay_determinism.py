"""Recorded histories (tests/histories/*.json) replay through the CURRENT orchestrator code
to the same decisions and the same outcome — what in-flight instances need after a deploy.

A change that would break in-flight instances (calling other functions, other inputs, another
order, other child ids) fails here. Re-record fixtures (`python -m tests.histories.record`)
only together with a versioning decision (see README, "Changing orchestrators safely")."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import pytest

from devhost.durable.actions import ActionType, sequenced_actions
from devhost.durable.history import EventType
from devhost.durable.protocol import replay_all
from devhost.functions.app import AppIndex, FunctionInfo
from devhost.runtime import load_app

REPO = Path(__file__).resolve().parents[1]
HISTORIES = REPO / "tests" / "histories"
APPS = {"function_app": ("function_app", REPO), "failing_app": ("function_app", REPO),
        "semantics_app": ("semantics_app", REPO / "tests" / "devhost" / "apps")}


def _decided(history: list[dict[str, Any]]) -> list[tuple[str, Any, Any]]:
    """What the orchestrator asked for, as recorded (retry reschedules folded in)."""
    seen: dict[tuple[str, Any, Any], None] = {}
    for ev in history:
        if ev["EventType"] == EventType.TASK_SCHEDULED:
            seen[(ev["Name"], ev.get("Input"), None)] = None
        elif ev["EventType"] == EventType.SUB_ORCHESTRATION_CREATED:
            seen[(ev["Name"], ev.get("Input"), ev["InstanceId"])] = None
    return list(seen)


def problems(fixture: dict[str, Any], fn: FunctionInfo) -> list[str]:
    states = replay_all(_index(fixture).invoker, fn, fixture["instanceId"],
                        fixture["parentInstanceId"], fixture["input"], fixture["history"])
    final, error = states[-1]
    found = []
    if final is not None:
        asked = [(a.function_name, a.input, a.raw.get("instanceId")) for a in
                 sequenced_actions(final["actions"]) if a.type is not ActionType.CREATE_TIMER]
        if list(dict.fromkeys(asked)) != _decided(fixture["history"]):
            found.append(f"decisions differ: {asked} vs {_decided(fixture['history'])}")
    if fixture["runtimeStatus"] == "Completed":
        if error is not None or final is None or final.get("output") != fixture["output"]:
            found.append(f"outcome differs: {error or (final or {}).get('output')!r}")
    elif error is None:
        found.append("recorded a failure, replay did not fail")
    return found


def _fixtures() -> list[tuple[str, dict[str, Any]]]:
    return [(f"{path.stem}:{f['orchestrator']}", f) for path in sorted(HISTORIES.glob("*.json"))
            for f in json.loads(path.read_text())]


_INDEXES: dict[str, AppIndex] = {}


def _index(fixture: dict[str, Any]) -> AppIndex:
    """Each app in a worker process of its own (apps share function names)."""
    if fixture["app"] not in _INDEXES:
        module, directory = APPS[fixture["app"]]
        _INDEXES[fixture["app"]] = load_app(module, directory)
    return _INDEXES[fixture["app"]]


def _orchestrator(fixture: dict[str, Any]) -> FunctionInfo:
    return _index(fixture).orchestrators[fixture["orchestrator"]]


@pytest.mark.parametrize(("name", "fixture"), _fixtures(), ids=[n for n, _ in _fixtures()])
def test_recorded_history_replays_identically(name: str, fixture: dict[str, Any]) -> None:
    assert problems(fixture, _orchestrator(fixture)) == []


def test_fixtures_cover_happy_failing_and_retries() -> None:
    statuses = {(f["app"], f["runtimeStatus"]) for _, f in _fixtures()}
    assert ("function_app", "Completed") in statuses and ("failing_app", "Failed") in statuses
    retries = [f for _, f in _fixtures() if f["orchestrator"] == "retrying"]
    assert retries and sum(e["EventType"] == EventType.TASK_FAILED
                           for e in retries[0]["history"]) == 2


def test_a_breaking_change_is_caught() -> None:
    parent = next(f for n, f in _fixtures()
                  if n == "recipe_happy:parent_workflow_orchestrator")
    # The child orchestrator's code stands in for an edited parent: other calls, same history.
    edited = _orchestrator({**parent, "orchestrator": "customer_sync_sub_orchestrator"})
    assert problems(parent, edited) != []
