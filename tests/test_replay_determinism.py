"""Recorded histories (tests/histories/*.json) replay through the CURRENT orchestrator code
to the same decisions and the same outcome — what in-flight instances need after a deploy.

A change that would break in-flight instances (calling other functions, other inputs, another
order, other child ids) fails here. Re-record fixtures (`python -m tests.histories.record`)
only together with a versioning decision (see README, "Changing orchestrators safely").
Replays go through `durable_app.replay`: the app's orchestrator in its worker process, as
the Durable extension replays an instance after a deploy."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import pytest

from devhost.testing import DurableApp

HISTORIES = Path(__file__).resolve().parent / "histories"
TASK_FAILED = 6  # DurableTask.Core EventType.TaskFailed
RECIPE = "function_app"
# tests/histories/devhost_retries.json was recorded from devhost's own semantics app: the
# recipe has no retry policy, and retried activities are what replay must fold together.
RETRIES_APP = pytest.mark.durable_app(module="semantics_app", app_dir="tests/devhost/apps")


def _fixtures() -> list[tuple[str, dict[str, Any]]]:
    return [(f"{path.stem}:{f['orchestrator']}", f) for path in sorted(HISTORIES.glob("*.json"))
            for f in json.loads(path.read_text())]


# The failing run was recorded from tests/dashboards/failing_app.py, whose orchestrators
# are the recipe's: its histories replay through function_app.py.
RECIPE_FIXTURES = [(n, f) for n, f in _fixtures() if f["app"] in (RECIPE, "failing_app")]
RETRY_FIXTURES = [(n, f) for n, f in _fixtures() if f["app"] == "semantics_app"]


@pytest.mark.parametrize(("name", "fixture"), RECIPE_FIXTURES, ids=[n for n, _ in RECIPE_FIXTURES])
def test_recorded_history_replays_identically(durable_app_module: DurableApp, name: str,
                                              fixture: dict[str, Any]) -> None:
    replay = durable_app_module.replay(fixture["orchestrator"], fixture["history"])
    assert replay.problems == []
    if fixture["runtimeStatus"] == "Completed":
        assert replay.output == fixture["output"]
    else:
        assert replay.error is not None


@RETRIES_APP
@pytest.mark.parametrize(("name", "fixture"), RETRY_FIXTURES, ids=[n for n, _ in RETRY_FIXTURES])
def test_a_history_with_retries_replays_identically(durable_app: DurableApp, name: str,
                                                    fixture: dict[str, Any]) -> None:
    assert sum(e["EventType"] == TASK_FAILED for e in fixture["history"]) == 2
    replay = durable_app.replay(fixture["orchestrator"], fixture["history"])
    assert replay.problems == [] and replay.output == fixture["output"]


def test_fixtures_cover_happy_failing_and_retries() -> None:
    statuses = {(f["app"], f["runtimeStatus"]) for _, f in _fixtures()}
    assert ("function_app", "Completed") in statuses and ("failing_app", "Failed") in statuses
    assert [f["orchestrator"] for _, f in RETRY_FIXTURES] == ["retrying"]


def test_a_breaking_change_is_caught(durable_app_module: DurableApp) -> None:
    parent = next(f for n, f in RECIPE_FIXTURES
                  if n == "recipe_happy:parent_workflow_orchestrator")
    # The child orchestrator's code stands in for an edited parent: other calls, same history.
    replay = durable_app_module.replay("customer_sync_sub_orchestrator", parent["history"])
    assert replay.decisions != replay.recorded
    assert replay.problems[0].startswith("nondeterministic: the code schedules "
                                         "['sync_customer_profile']")


def test_a_fresh_runs_raw_history_replays(durable_app_module: DurableApp) -> None:
    """How to record a fixture: a run's raw history (what the orchestrator is handed)."""
    run = durable_app_module.start("parent_workflow_orchestrator",
                                   {"customer_id": "c-r", "customer_segment": "smb",
                                    "skus": ["A"]})
    assert run.wait().runtime_status == "Completed"
    for instance in run.instances():
        history = run.history(instance, raw=True)
        replay = durable_app_module.replay(run.status(instance).name, history)
        assert replay.problems == [] and replay.recorded, instance
