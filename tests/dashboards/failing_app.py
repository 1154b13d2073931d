"""The recipe's shape with an inventory activity that fails: the run the failure views show.

Same function names, same telemetry package as function_app.py; only the activity differs."""

from __future__ import annotations

from collections.abc import Generator
from typing import Any

import azure.durable_functions as df
import azure.functions as func

import telemetry
from function_app import CUSTOMER_SYNC, INVENTORY_SYNC, PARENT
from workflow import DEFAULT_INPUT, CustomerResult, WorkflowInput, parse_workflow_input

log = telemetry.get_logger()
app = df.DFApp(http_auth_level=func.AuthLevel.ANONYMOUS)


@app.route(route="start-sub-orchestration", methods=["POST"])
@app.durable_client_input(client_name="client")
async def start(req: func.HttpRequest, client: df.DurableOrchestrationClient,
                context: func.Context) -> func.HttpResponse:
    with telemetry.start_orchestration(PARENT, context) as started:
        await client.start_new(PARENT, started.instance_id,
                               started.wrap(parse_workflow_input(req.get_body())))
    return client.create_check_status_response(req, started.instance_id)


@app.orchestration_trigger(context_name="context", orchestration=PARENT)
def parent(context: df.DurableOrchestrationContext) -> Generator[Any, Any, Any]:
    run = telemetry.Run.of(context, PARENT, default=DEFAULT_INPUT)
    return (yield context.task_all([run.call_sub_orchestrator(CUSTOMER_SYNC, "customer-sync"),
                                    run.call_sub_orchestrator(INVENTORY_SYNC, "inventory-sync")]))


@app.orchestration_trigger(context_name="context", orchestration=CUSTOMER_SYNC)
def customer(context: df.DurableOrchestrationContext) -> Generator[Any, Any, Any]:
    return (yield telemetry.Run.of(context).call_activity("sync_customer_profile"))


@app.orchestration_trigger(context_name="context", orchestration=INVENTORY_SYNC)
def inventory(context: df.DurableOrchestrationContext) -> Generator[Any, Any, Any]:
    return (yield telemetry.Run.of(context).call_activity("build_inventory_snapshot"))


@app.activity_trigger(input_name="workflow_input", activity="sync_customer_profile")
@telemetry.activity
def sync(workflow_input: WorkflowInput, context: func.Context) -> CustomerResult:
    return {"step": "customer_sync", "customerId": workflow_input["customer_id"],
            "segment": workflow_input["customer_segment"], "status": "completed"}


@app.activity_trigger(input_name="workflow_input", activity="build_inventory_snapshot")
@telemetry.activity
def snapshot(workflow_input: WorkflowInput, context: func.Context) -> None:
    log.warning("Inventory service unavailable", customer_id=workflow_input["customer_id"])
    raise RuntimeError(f"inventory service unavailable for {len(workflow_input['skus'])} skus")
