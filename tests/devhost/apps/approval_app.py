"""Sample-style app: human interaction (approval with a timeout), driven over HTTP through the
SDK client — start, suspend, raise the approval event, resume, status."""

from __future__ import annotations

import json
from datetime import timedelta

import azure.durable_functions as df
import azure.functions as func

app = df.DFApp(http_auth_level=func.AuthLevel.ANONYMOUS)


@app.orchestration_trigger(context_name="context")
def approval_workflow(context: df.DurableOrchestrationContext):
    context.set_custom_status("waiting for approval")
    deadline = context.current_utc_datetime + timedelta(minutes=5)
    approval = context.wait_for_external_event("Approval")
    timeout = context.create_timer(deadline)
    winner = yield context.task_any([approval, timeout])
    if winner == approval:
        timeout.cancel()
        context.set_custom_status("approved")
        return {"approved_by": approval.result}
    return {"approved_by": None}


@app.route(route="approvals", methods=["POST"])
@app.durable_client_input(client_name="client")
async def request_approval(req: func.HttpRequest, client: df.DurableOrchestrationClient
                           ) -> func.HttpResponse:
    instance_id = await client.start_new("approval_workflow")
    return client.create_check_status_response(req, instance_id)


@app.route(route="approvals/{id}/{action}", methods=["POST"])
@app.durable_client_input(client_name="client")
async def act_on_approval(req: func.HttpRequest, client: df.DurableOrchestrationClient
                          ) -> func.HttpResponse:
    instance_id, action = req.route_params["id"], req.route_params["action"]
    if action == "suspend":
        await client.suspend(instance_id, "waiting for the approver's manager")
    elif action == "resume":
        await client.resume(instance_id, "manager is back")
    elif action == "approve":
        await client.raise_event(instance_id, "Approval", json.loads(req.get_body()))
    else:
        return func.HttpResponse(f"unknown action {action}", status_code=400)
    status = await client.get_status(instance_id)
    return func.HttpResponse(json.dumps({"runtimeStatus": status.runtime_status.value}),
                             mimetype="application/json")
