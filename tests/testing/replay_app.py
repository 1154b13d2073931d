"""Orchestrators in pairs, the second of each standing in for an edit of the first, so a
history recorded from one replays through "changed code" on the same host: entity calls,
continue-as-new, identical calls repeated, durable timers and children with and without
ids. Plus a plain HTTP function echoing its
traceparent."""

from __future__ import annotations

from datetime import timedelta

import azure.durable_functions as df
import azure.functions as func

app = df.DFApp(http_auth_level=func.AuthLevel.ANONYMOUS)


@app.entity_trigger(context_name="context", entity_name="Counter")
def counter_entity(context: df.DurableEntityContext) -> None:
    current = context.get_state(lambda: 0)
    if context.operation_name == "add":
        current += context.get_input()
    context.set_result(current)
    context.set_state(current)


@app.activity_trigger(input_name="value")
def poll(value: object) -> object:
    return value


def _entity_calls(context: df.DurableOrchestrationContext, operation: str):
    counter = df.EntityId("Counter", context.instance_id)
    context.signal_entity(counter, "add", 1)
    total = yield context.call_entity(counter, operation, 5)
    return (yield context.call_activity("poll", total))


@app.orchestration_trigger(context_name="context")
def entity_calls(context: df.DurableOrchestrationContext):
    return (yield from _entity_calls(context, "add"))


@app.orchestration_trigger(context_name="context")
def entity_calls_other_operation(context: df.DurableOrchestrationContext):
    return (yield from _entity_calls(context, "get"))


@app.orchestration_trigger(context_name="context")
def entity_call_became_activity(context: df.DurableOrchestrationContext):
    counter = df.EntityId("Counter", context.instance_id)
    context.signal_entity(counter, "add", 1)
    total = yield context.call_activity("poll", 6)
    return (yield context.call_activity("poll", total))


def _continues(context: df.DurableOrchestrationContext, limit: int):
    generation = context.get_input() or 0
    yield context.call_activity("poll", generation)
    if generation < limit:
        context.continue_as_new(generation + 1)
        return None
    return generation


@app.orchestration_trigger(context_name="context")
def continues_once(context: df.DurableOrchestrationContext):
    return (yield from _continues(context, 1))


@app.orchestration_trigger(context_name="context")
def continues_twice(context: df.DurableOrchestrationContext):
    return (yield from _continues(context, 2))


def _repeat(context: df.DurableOrchestrationContext, times: int):
    results = yield context.task_all([context.call_activity("poll", "same")
                                      for _ in range(times)])
    yield context.wait_for_external_event("go")  # recorded while running: waits here
    return results


@app.orchestration_trigger(context_name="context")
def repeat_two(context: df.DurableOrchestrationContext):
    return (yield from _repeat(context, 2))


@app.orchestration_trigger(context_name="context")
def repeat_three(context: df.DurableOrchestrationContext):
    return (yield from _repeat(context, 3))


@app.route(route="echo", methods=["GET"])
def echo(req: func.HttpRequest) -> func.HttpResponse:
    """What `traceparent` the call arrived with: the header a test sent, as sent."""
    return func.HttpResponse(req.headers.get("traceparent") or "")


@app.orchestration_trigger(context_name="context")
def calls_child(context: df.DurableOrchestrationContext):
    return (yield context.call_sub_orchestrator("continues_once", None))


@app.orchestration_trigger(context_name="context")
def calls_child_with_id(context: df.DurableOrchestrationContext):
    return (yield context.call_sub_orchestrator("continues_once", None,
                                                f"{context.instance_id}:child"))


@app.orchestration_trigger(context_name="context")
def polls_once(context: df.DurableOrchestrationContext):
    return (yield context.call_activity("poll", 1))


@app.orchestration_trigger(context_name="context")
def waits_then_polls(context: df.DurableOrchestrationContext):
    yield context.create_timer(context.current_utc_datetime + timedelta(milliseconds=20))
    return (yield context.call_activity("poll", 1))


@app.orchestration_trigger(context_name="context")
def fails(context: df.DurableOrchestrationContext):
    value = yield context.call_activity("poll", context.get_input())
    raise ValueError(f"failed with {value}")


@app.orchestration_trigger(context_name="context")
def retries_child(context: df.DurableOrchestrationContext):
    options = df.RetryOptions(first_retry_interval_in_milliseconds=20, max_number_of_attempts=2)
    try:
        yield context.call_sub_orchestrator_with_retry("fails", options, "x")
    except Exception:  # noqa: BLE001 - both attempts fail; the parent completes
        return "gave up"
    return "succeeded"
