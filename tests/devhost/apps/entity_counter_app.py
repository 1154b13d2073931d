"""Sample-style app: the Counter entity of the Durable Functions Python samples, driven from
HTTP (the SDK client's signal_entity / read_entity_state) and from an orchestration
(call_entity / signal_entity)."""

from __future__ import annotations

import json

import azure.durable_functions as df
import azure.functions as func

app = df.DFApp(http_auth_level=func.AuthLevel.ANONYMOUS)


@app.entity_trigger(context_name="context", entity_name="Counter")
def counter_entity(context: df.DurableEntityContext) -> None:
    current = context.get_state(lambda: 0)
    operation = context.operation_name
    if operation == "add":
        current += context.get_input()
    elif operation == "reset":
        current = 0
    elif operation == "get":
        context.set_result(current)
    elif operation == "fail":
        raise ValueError(f"cannot {context.get_input()}")
    context.set_state(current)


@app.route(route="counter/{key}/{op}", methods=["POST"])
@app.durable_client_input(client_name="client")
async def signal_counter(req: func.HttpRequest, client: df.DurableOrchestrationClient
                         ) -> func.HttpResponse:
    entity = df.EntityId("Counter", req.route_params["key"])
    body = req.get_body()
    await client.signal_entity(entity, req.route_params["op"],
                               json.loads(body) if body else None)
    return func.HttpResponse(status_code=202)


@app.route(route="counter/{key}", methods=["GET"])
@app.durable_client_input(client_name="client")
async def read_counter(req: func.HttpRequest, client: df.DurableOrchestrationClient
                       ) -> func.HttpResponse:
    state = await client.read_entity_state(df.EntityId("Counter", req.route_params["key"]))
    return func.HttpResponse(json.dumps({"exists": state.entity_exists,
                                         "state": state.entity_state}),
                             mimetype="application/json")


@app.route(route="orchestrators/{name}", methods=["POST"])
@app.durable_client_input(client_name="client")
async def start(req: func.HttpRequest, client: df.DurableOrchestrationClient
                ) -> func.HttpResponse:
    body = req.get_body()
    iid = await client.start_new(req.route_params["name"], None,
                                 json.loads(body) if body else None)
    return client.create_check_status_response(req, iid)


@app.orchestration_trigger(context_name="context")
def counter_orchestrator(context: df.DurableOrchestrationContext):
    key = context.get_input()
    entity = df.EntityId("Counter", key)
    context.signal_entity(entity, "add", 10)
    yield context.call_entity(entity, "add", 5)
    value = yield context.call_entity(entity, "get")
    error: str | None
    try:
        yield context.call_entity(entity, "fail", "divide")
    except Exception as exc:  # the entity's exception reaches the caller
        error = str(exc)
    else:
        error = None
    again = yield context.call_entity(entity, "get")
    return {"value": value, "error": error, "after": again}


@app.orchestration_trigger(context_name="context")
def calls_missing_entity(context: df.DurableOrchestrationContext):
    return (yield context.call_entity(df.EntityId("Nope", "k"), "get"))


# An entity written against the extension's out-of-process protocol directly (what the SDK's
# Entity.handle produces), to drive what the Python SDK cannot send itself: signals from an
# entity to other entities. It records each batch it is given.
BATCHES: list[list[str]] = []


@app.generic_trigger(arg_name="context", type="entityTrigger", entityName="Relay")
def relay_entity(context: func.EntityContext) -> str:
    request = json.loads(context.body if hasattr(context, "body") else str(context))
    BATCHES.append([op["name"] for op in request["batch"]])
    key = request["self"]["key"]
    return json.dumps({
        "entityExists": True, "entityState": json.dumps(len(BATCHES)),
        "results": [{"isError": False, "duration": 0, "startTime": 0, "result": "null"}
                    for _ in request["batch"]],
        "signals": [{"target": {"name": "Counter", "key": key}, "name": "add",
                     "input": json.dumps(1)} for _ in request["batch"]]})
