"""Sub-orchestration recipe: an HTTP starter, a parent orchestration, two child
orchestrations with one activity each — followable as one run in Application Insights."""

from __future__ import annotations

import os
from collections.abc import Generator
from typing import Any

import azure.durable_functions as df
import azure.functions as func

import telemetry
from workflow import (
    CustomerResult,
    InputError,
    InventoryResult,
    WorkflowInput,
    WorkflowResult,
    parse_workflow_input,
    workflow_input,
)

PARENT = "parent_workflow_orchestrator"
CUSTOMER_SYNC = "customer_sync_sub_orchestrator"
INVENTORY_SYNC = "inventory_sync_sub_orchestrator"

telemetry.configure()
log = telemetry.get_logger()
# FUNCTION on Azure; local.settings.json may relax it for local runs (never in production).
app = df.DFApp(http_auth_level=func.AuthLevel(os.environ.get("HTTP_AUTH_LEVEL", "function")))


@app.route(route="start-sub-orchestration", methods=["POST"])
@app.durable_client_input(client_name="client")
async def start_sub_orchestration(req: func.HttpRequest, client: df.DurableOrchestrationClient,
                                  context: func.Context) -> func.HttpResponse:
    try:
        workflow = parse_workflow_input(req.get_body())
    except InputError as err:
        return func.HttpResponse(err.body(), status_code=err.status, mimetype="application/json")
    with telemetry.start_orchestration(PARENT, context) as started:
        await client.start_new(PARENT, started.instance_id, started.wrap(workflow))
        log.info("Started parent workflow orchestration", customer_id=workflow["customer_id"],
                 sku_count=len(workflow["skus"]))
    return client.create_check_status_response(req, started.instance_id)


@app.orchestration_trigger(context_name="context")
def parent_workflow_orchestrator(
        context: df.DurableOrchestrationContext) -> Generator[Any, Any, WorkflowResult]:
    run = telemetry.Run.of(context, PARENT)
    workflow = workflow_input(run.payload)
    customer, inventory = yield context.task_all([
        run.call_sub_orchestrator(CUSTOMER_SYNC, "customer-sync", workflow),
        run.call_sub_orchestrator(INVENTORY_SYNC, "inventory-sync", workflow),
    ])
    return {"instanceId": context.instance_id, "customer": customer, "inventory": inventory,
            "status": "completed"}


@app.orchestration_trigger(context_name="context")
def customer_sync_sub_orchestrator(
        context: df.DurableOrchestrationContext) -> Generator[Any, Any, CustomerResult]:
    return (yield telemetry.Run.of(context).call_activity("sync_customer_profile"))


@app.orchestration_trigger(context_name="context")
def inventory_sync_sub_orchestrator(
        context: df.DurableOrchestrationContext) -> Generator[Any, Any, InventoryResult]:
    return (yield telemetry.Run.of(context).call_activity("build_inventory_snapshot"))


# The activities declare `context` without using it: `@telemetry.activity` reads the host's
# invocation span from it (`context.trace_context`) to parent the activity's span in the run's
# trace (telemetry/spans.py, activity_span); the worker passes it only when it is declared.
@app.activity_trigger(input_name="workflow_input")
@telemetry.activity
def sync_customer_profile(workflow_input: WorkflowInput, context: func.Context) -> CustomerResult:
    log.info("Synced customer profile", customer_id=workflow_input["customer_id"],
             segment=workflow_input["customer_segment"])
    return {"step": "customer_sync", "customerId": workflow_input["customer_id"],
            "segment": workflow_input["customer_segment"], "status": "completed"}


@app.activity_trigger(input_name="workflow_input")
@telemetry.activity
def build_inventory_snapshot(workflow_input: WorkflowInput,
                             context: func.Context) -> InventoryResult:
    skus = workflow_input["skus"]
    log.info("Built inventory snapshot", customer_id=workflow_input["customer_id"],
             sku_count=len(skus))
    return {"step": "inventory_sync", "skuCount": len(skus), "skus": skus, "status": "completed"}
