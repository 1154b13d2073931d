"""A DFApp for devhost's lifecycle tests: shutdown mid-activity, suspend/resume, rewind."""

from __future__ import annotations

import os
import time
from pathlib import Path

import azure.durable_functions as df
import azure.functions as func

app = df.DFApp(http_auth_level=func.AuthLevel.ANONYMOUS)
_MARKS = Path(os.environ.get("LIFECYCLE_MARKS_DIR", "/tmp/devhost-lifecycle"))


def _mark(name: str) -> int:
    """Count executions on disk, so a test sees how often an activity really ran."""
    _MARKS.mkdir(parents=True, exist_ok=True)
    path = _MARKS / name
    count = int(path.read_text()) + 1 if path.exists() else 1
    path.write_text(str(count))
    return count


@app.activity_trigger(input_name="seconds")
def slow_step(seconds: float) -> str:
    _mark("slow_step.started")
    time.sleep(seconds)
    _mark("slow_step.finished")
    return f"slept {seconds}"


@app.orchestration_trigger(context_name="context")
def slow_once(context: df.DurableOrchestrationContext):
    return (yield context.call_activity("slow_step", context.get_input()))


@app.activity_trigger(input_name="value")
def add_one(value: int) -> int:
    return value + 1


@app.orchestration_trigger(context_name="context")
def two_steps_with_event(context: df.DurableOrchestrationContext):
    first = yield context.call_activity("add_one", 1)
    approved = yield context.wait_for_external_event("Approval")
    second = yield context.call_activity("add_one", first)
    return {"first": first, "second": second, "approved": approved}


@app.activity_trigger(input_name="key")
def fails_first_time(key: str) -> str:
    """Fails on its first run per key, succeeds afterwards: a bug fixed before a rewind."""
    if _mark(f"fails_first_time.{key}") == 1:
        raise RuntimeError(f"transient failure for {key}")
    return f"{key} ok"


@app.orchestration_trigger(context_name="context")
def rewindable(context: df.DurableOrchestrationContext):
    key = context.get_input()
    first = yield context.call_activity("add_one", 1)
    second = yield context.call_activity("fails_first_time", key)
    return [first, second]


@app.orchestration_trigger(context_name="context")
def rewindable_child(context: df.DurableOrchestrationContext):
    return (yield context.call_activity("fails_first_time", context.get_input()))


@app.orchestration_trigger(context_name="context")
def rewindable_parent(context: df.DurableOrchestrationContext):
    key = context.get_input()
    done = yield context.call_activity("add_one", 1)
    child = yield context.call_sub_orchestrator("rewindable_child", key,
                                                f"{context.instance_id}:child")
    return [done, child]


@app.route(route="Boom/{name}", methods=["GET"])
def boom(req: func.HttpRequest) -> func.HttpResponse:
    raise LookupError(f"no {req.route_params['name']}")


@app.orchestration_trigger(context_name="context")
def calls_missing_activity(context: df.DurableOrchestrationContext):
    return (yield context.call_activity("not_there", None))


@app.activity_trigger(input_name="key")
def fails_twice(key: str) -> str:
    """Fails on its first two runs per key (the retry policy allows two attempts)."""
    if _mark(f"fails_twice.{key}") <= 2:
        raise RuntimeError(f"attempt failed for {key}")
    return f"{key} ok"


@app.orchestration_trigger(context_name="context")
def rewindable_with_retry(context: df.DurableOrchestrationContext):
    options = df.RetryOptions(first_retry_interval_in_milliseconds=50, max_number_of_attempts=2)
    return (yield context.call_activity_with_retry("fails_twice", options, context.get_input()))


@app.orchestration_trigger(context_name="context")
def gated(context: df.DurableOrchestrationContext):
    """Holds its first episode until the test opens the gate: a purge can land mid-episode.
    (Waiting on a file is not replay-safe; it is here only to pin that moment.)"""
    gate = _MARKS / f"{context.instance_id}.gate"
    _mark(f"{context.instance_id}.entered")
    while not gate.exists():
        time.sleep(0.01)
    return (yield context.call_activity("add_one", 1))
