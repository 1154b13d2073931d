"""A DFApp written for devhost's own tests: every orchestration feature it must honour."""

from __future__ import annotations

import json
import os
import sys
import time
from datetime import timedelta
from pathlib import Path
from typing import Any

import azure.durable_functions as df
import azure.functions as func

app = df.DFApp(http_auth_level=func.AuthLevel.ANONYMOUS)
_ATTEMPTS_DIR = Path(os.environ.get("SEMANTICS_ATTEMPTS_DIR", "/tmp/devhost-attempts"))


@app.activity_trigger(input_name="value")
def double(value: int) -> int:
    return value * 2


@app.activity_trigger(input_name="value")
def nap(value: int) -> int:
    """Slow enough that a run is still in flight when a test kills the host."""
    time.sleep(0.1)
    return value * 2


@app.orchestration_trigger(context_name="context")
def napping_children(context: df.DurableOrchestrationContext):
    count = context.get_input()
    tasks = [context.call_sub_orchestrator("napping_child", i, f"{context.instance_id}:n{i}")
             for i in range(count)]
    return sum((yield context.task_all(tasks)))


@app.orchestration_trigger(context_name="context")
def napping_child(context: df.DurableOrchestrationContext):
    return (yield context.call_activity("nap", context.get_input()))


@app.activity_trigger(input_name="key")
def flaky(key: str) -> str:
    """Fails twice per key, then succeeds (attempts are counted on disk)."""
    _ATTEMPTS_DIR.mkdir(parents=True, exist_ok=True)
    marker = _ATTEMPTS_DIR / key
    attempts = int(marker.read_text()) + 1 if marker.exists() else 1
    marker.write_text(str(attempts))
    if attempts <= 2:
        raise RuntimeError(f"attempt {attempts} failed")
    return f"{key} ok after {attempts}"


@app.activity_trigger(input_name="message")
def explode(message: str) -> None:
    raise ValueError(message)


@app.orchestration_trigger(context_name="context")
def fan_out(context: df.DurableOrchestrationContext):
    count = context.get_input()
    results = yield context.task_all([context.call_activity("double", i) for i in range(count)])
    return sum(results)


@app.orchestration_trigger(context_name="context")
def fan_out_children(context: df.DurableOrchestrationContext):
    count = context.get_input()
    tasks = [context.call_sub_orchestrator("one_child", i, f"{context.instance_id}:c{i}")
             for i in range(count)]
    results = yield context.task_all(tasks)
    return sum(results)


@app.orchestration_trigger(context_name="context")
def one_child(context: df.DurableOrchestrationContext):
    return (yield context.call_activity("double", context.get_input()))


@app.orchestration_trigger(context_name="context")
def retrying(context: df.DurableOrchestrationContext):
    options = df.RetryOptions(first_retry_interval_in_milliseconds=200, max_number_of_attempts=3)
    first = yield context.call_activity_with_retry("flaky", options, context.get_input())
    second = yield context.call_activity("double", 21)
    return {"first": first, "second": second}


@app.orchestration_trigger(context_name="context")
def retry_exhausted(context: df.DurableOrchestrationContext):
    options = df.RetryOptions(first_retry_interval_in_milliseconds=50, max_number_of_attempts=2)
    try:
        yield context.call_activity_with_retry("explode", options, "always")
    except Exception as err:  # noqa: BLE001 - the orchestration reports what it caught
        return {"caught": "always" in str(err)}
    return {"caught": False}


@app.orchestration_trigger(context_name="context")
def retried_child_without_id(context: df.DurableOrchestrationContext):
    options = df.RetryOptions(first_retry_interval_in_milliseconds=20, max_number_of_attempts=2)
    try:
        yield context.call_sub_orchestrator_with_retry("failing_child", options, "twice")
    except Exception:  # noqa: BLE001 - both attempts fail; the parent completes
        return {"caught": True}
    return {"caught": False}


@app.orchestration_trigger(context_name="context")
def timer_then_activity(context: df.DurableOrchestrationContext):
    seconds = context.get_input()
    yield context.create_timer(context.current_utc_datetime + timedelta(seconds=seconds))
    return (yield context.call_activity("double", 5))


@app.orchestration_trigger(context_name="context")
def approval(context: df.DurableOrchestrationContext):
    context.set_custom_status({"stage": "waiting"})
    decision = yield context.wait_for_external_event("Approval")
    context.set_custom_status({"stage": "decided"})
    return {"approved": decision}


@app.orchestration_trigger(context_name="context")
def approval_or_timeout(context: df.DurableOrchestrationContext):
    deadline = context.current_utc_datetime + timedelta(seconds=context.get_input())
    timer = context.create_timer(deadline)
    event = context.wait_for_external_event("Approval")
    winner = yield context.task_any([event, timer])
    if winner == event:
        timer.cancel()
        return {"approved": event.result}
    return {"approved": None, "timedOut": True}


@app.orchestration_trigger(context_name="context")
def counter(context: df.DurableOrchestrationContext):
    state: dict[str, Any] = context.get_input()
    value = yield context.call_activity("double", state["value"])
    if state["rounds"] > 1:
        context.continue_as_new({"value": value, "rounds": state["rounds"] - 1})
        return None
    return value


@app.orchestration_trigger(context_name="context")
def failing_parent(context: df.DurableOrchestrationContext):
    try:
        yield context.call_sub_orchestrator("failing_child", "boom",
                                            f"{context.instance_id}:child")
    except Exception as err:  # noqa: BLE001
        return {"childFailed": True, "message": str(err)}
    return {"childFailed": False}


@app.orchestration_trigger(context_name="context")
def failing_child(context: df.DurableOrchestrationContext):
    yield context.call_activity("explode", context.get_input())
    return "unreachable"


@app.orchestration_trigger(context_name="context")
def uncaught_parent(context: df.DurableOrchestrationContext):
    return (yield context.call_sub_orchestrator("failing_child", "deep"))


@app.orchestration_trigger(context_name="context")
def slow(context: df.DurableOrchestrationContext):
    yield context.create_timer(context.current_utc_datetime + timedelta(hours=1))
    return "late"


@app.orchestration_trigger(context_name="context")
def parses_activity_failure(context: df.DurableOrchestrationContext):
    """Catches a failed activity and parses it with the workaround from
    azure-functions-durable-extension issue #2990, as users do on Azure."""
    try:
        yield context.call_activity("explode", context.get_input())
    except Exception as e:  # noqa: BLE001 - the orchestration reports what it caught
        escaped_json = e.args[0].split("\n")[1]
        parsed = json.loads(escaped_json)["Message"].split(":", 1)[1].lstrip()
        return {"text": str(e), "parsed": parsed}
    return None


@app.orchestration_trigger(context_name="context")
def versioned(context: df.DurableOrchestrationContext):
    """Microsoft's orchestration_versioning sample (azure-functions-durable-python
    samples-v2/orchestration_versioning), without its wait: the branch follows context.version;
    one child gets an explicit version, one host.json's defaultVersion."""
    branch = "legacy" if context.version == "1.0" else "new"
    explicit = yield context.call_sub_orchestrator("versioned_child", version="0.9")
    default = yield context.call_sub_orchestrator("versioned_child")
    return [context.version, branch, explicit, default]


@app.orchestration_trigger(context_name="context")
def versioned_child(context: df.DurableOrchestrationContext):
    return context.version


@app.orchestration_trigger(context_name="context")
def continued_twice(context: df.DurableOrchestrationContext):
    """Continues as new until its input reaches 2: the version survives ContinueAsNew."""
    n = context.get_input() or 0
    if n < 2:
        context.continue_as_new(n + 1)
        return None
    return context.version


@app.route(route="orchestrators/{name}", methods=["POST"])
@app.durable_client_input(client_name="client")
async def http_start(req: func.HttpRequest, client: df.DurableOrchestrationClient
                     ) -> func.HttpResponse:
    body = req.get_body()
    payload = json.loads(body) if body else None
    instance_id = await client.start_new(req.route_params["name"], None, payload)
    return client.create_check_status_response(req, instance_id)


@app.route(route="client/{op}", methods=["POST"])
@app.durable_client_input(client_name="client")
async def client_ops(req: func.HttpRequest, client: df.DurableOrchestrationClient
                     ) -> func.HttpResponse:
    """Drives the SDK client's own methods against the host, for devhost's tests."""
    args: dict[str, Any] = req.get_json()
    op = req.route_params["op"]
    result: Any
    if op == "wait":
        return await client.wait_for_completion_or_create_check_status_response(
            req, args["id"], timeout_in_milliseconds=args.get("timeout_ms", 10000),
            retry_interval_in_milliseconds=50)
    if op == "status":
        status = await client.get_status(args["id"], show_history=True, show_input=True)
        # The extension names the field historyEvents; the SDK keeps it as an attribute.
        result = {**status.to_json(), "historyEvents": getattr(status, "historyEvents", None)}
    elif op == "status_all":
        result = [s.to_json() for s in await client.get_status_all()]
    elif op == "status_by":
        statuses = [df.OrchestrationRuntimeStatus(s) for s in args["statuses"]]
        result = [s.to_json() for s in await client.get_status_by(runtime_status=statuses)]
    elif op == "raise_event":
        result = await client.raise_event(args["id"], args["event"], args["data"])
    elif op == "terminate":
        result = await client.terminate(args["id"], args["reason"])
    elif op == "purge":
        result = (await client.purge_instance_history(args["id"])).instances_deleted
    elif op == "start":
        result = await client.start_new(args["name"], args.get("id"), args.get("input"),
                                        version=args.get("version"))
    elif op == "rewind":
        result = await client.rewind(args["id"], "fixed")
    else:
        return func.HttpResponse(json.dumps({"error": f"unknown op {op}"}), status_code=400)
    return func.HttpResponse(json.dumps({"result": result}, default=str),
                             mimetype="application/json")


@app.route(route="boom", methods=["GET"])
def boom(req: func.HttpRequest) -> func.HttpResponse:
    """An HTTP function that throws, for the host's request row."""
    raise RuntimeError("boom " + req.params.get("code", ""))


def _received(context: func.Context) -> dict[str, Any]:
    """What this invocation's worker process received from the host. devhost's worker hands
    the runtime each StreamingMessage from `Dispatcher.handle(message)`, and an async function
    runs inside that await chain on the worker's loop: the frames up from here reach it."""
    frame = sys._getframe(1)
    while frame is not None:
        message = frame.f_locals.get("message")
        if frame.f_code.co_name == "handle" and hasattr(message, "invocation_request"):
            request = message.invocation_request  # type: ignore[union-attr]
            metadata = {}
            for key, value in request.trigger_metadata.items():
                kind = value.WhichOneof("data")
                metadata[key] = [kind, getattr(value, kind) if kind in ("string", "json")
                                 else None]
            return {"pid": os.getpid(), "trigger_metadata": metadata,
                    "capabilities": dict(frame.f_locals["self"].host_capabilities),
                    "attributes": dict(context.trace_context.attributes)}
        frame = frame.f_back  # type: ignore[assignment]
    raise LookupError("not inside the worker's Dispatcher.handle")


@app.route(route="probe/{item}", methods=["GET", "POST"])
async def probe(req: func.HttpRequest, context: func.Context) -> func.HttpResponse:
    """Reports what the worker received for this call, and which process it ran in."""
    return func.HttpResponse(json.dumps(_received(context)), mimetype="application/json")


@app.activity_trigger(input_name="payload")
async def probe_activity(payload: Any, context: func.Context) -> str:
    return json.dumps(_received(context))


@app.orchestration_trigger(context_name="context")
def probing(context: df.DurableOrchestrationContext):
    seen = yield context.call_activity("probe_activity", context.get_input())
    return json.loads(seen)
