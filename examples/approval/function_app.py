"""An order-approval workflow: a second, different example app tested with devhost's
pytest plugin (see tests/). Orders under the auto-approve limit ship at once; others wait for
an "Approval" event, and escalate when none comes within the approval window (24 h)."""

from __future__ import annotations

import json
import os
from collections.abc import Generator
from datetime import timedelta
from typing import Any

import azure.durable_functions as df
import azure.functions as func

import telemetry

ORCHESTRATOR = "approval_orchestrator"
APPROVAL_EVENT = "Approval"

telemetry.configure()
log = telemetry.get_logger()
app = df.DFApp(http_auth_level=func.AuthLevel(os.environ.get("HTTP_AUTH_LEVEL", "function")))


def _bad(message: str, field: str) -> func.HttpResponse:
    return func.HttpResponse(json.dumps({"error": message, "field": field}), status_code=400,
                             mimetype="application/json")


@app.route(route="orders", methods=["POST"])
@app.durable_client_input(client_name="client")
async def submit_order(req: func.HttpRequest, client: df.DurableOrchestrationClient,
                       context: func.Context) -> func.HttpResponse:
    try:
        order = req.get_json()
    except ValueError:
        return _bad("body must be JSON", "body")
    if not isinstance(order, dict):
        return _bad("body must be a JSON object", "body")
    if not isinstance(order.get("order_id"), str) or not order["order_id"].strip():
        return _bad("order_id must be a non-empty string", "order_id")
    amount = order.get("amount")
    if not isinstance(amount, int | float) or isinstance(amount, bool) or amount <= 0:
        return _bad("amount must be a positive number", "amount")
    # Settings are read here, never in the orchestrator (replay must see the same values).
    payload = {"order_id": order["order_id"], "amount": amount,
               "auto_approve_limit": float(os.environ.get("AUTO_APPROVE_LIMIT", "100")),
               "approval_hours": float(os.environ.get("APPROVAL_WINDOW_HOURS", "24"))}
    with telemetry.start_orchestration(ORCHESTRATOR, context) as started:
        await client.start_new(ORCHESTRATOR, started.instance_id, started.wrap(payload))
        log.info("Order submitted", order_id=order["order_id"], amount=amount)
    return client.create_check_status_response(req, started.instance_id)


@app.orchestration_trigger(context_name="context")
def approval_orchestrator(context: df.DurableOrchestrationContext
                          ) -> Generator[Any, Any, dict[str, Any]]:
    run = telemetry.Run.of(context, ORCHESTRATOR)
    order = run.payload
    if order["amount"] <= order["auto_approve_limit"]:
        decision = "auto-approved"
    else:
        deadline = context.current_utc_datetime + timedelta(hours=order["approval_hours"])
        timer = context.create_timer(deadline)
        approval = context.wait_for_external_event(APPROVAL_EVENT)
        winner = yield context.task_any([approval, timer])
        if winner == approval:
            timer.cancel()
            decision = "approved" if (approval.result or {}).get("approved") else "rejected"
        else:
            decision = "timed-out"
    if decision in ("auto-approved", "approved"):
        result = yield run.call_activity("ship_order", {**order, "decision": decision})
    else:
        result = yield run.call_activity("escalate_order", {**order, "decision": decision})
    return {"order_id": order["order_id"], "decision": decision, "result": result,
            "decided_at": context.current_utc_datetime.isoformat()}


@app.activity_trigger(input_name="order")
@telemetry.activity
def ship_order(order: dict, context: func.Context) -> str:
    log.info("Shipped order", order_id=order["order_id"], decision=order["decision"])
    return "shipped"


@app.activity_trigger(input_name="order")
@telemetry.activity
def escalate_order(order: dict, context: func.Context) -> str:
    log.warning("Escalated order", order_id=order["order_id"], decision=order["decision"])
    return "escalated"
