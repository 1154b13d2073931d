"""Sample-style app: an order workflow whose payment step fails once (a bug fixed after the
failure); the failed run is rewound over HTTP through the SDK client and completes."""

from __future__ import annotations

import json
import os
from pathlib import Path

import azure.durable_functions as df
import azure.functions as func

app = df.DFApp(http_auth_level=func.AuthLevel.ANONYMOUS)
_FIXED = Path(os.environ.get("REWIND_FIXED_FLAG", "/tmp/devhost-rewind-fixed"))


@app.activity_trigger(input_name="order")
def reserve_stock(order: dict) -> str:
    return f"reserved {order['sku']}"


@app.activity_trigger(input_name="order")
def charge_card(order: dict) -> str:
    if not _FIXED.exists():
        raise ConnectionError("payment provider unreachable")
    return f"charged {order['amount']}"


@app.orchestration_trigger(context_name="context")
def order_workflow(context: df.DurableOrchestrationContext):
    order = context.get_input()
    reserved = yield context.call_activity("reserve_stock", order)
    charged = yield context.call_activity("charge_card", order)
    return [reserved, charged]


@app.route(route="orders", methods=["POST"])
@app.durable_client_input(client_name="client")
async def place_order(req: func.HttpRequest, client: df.DurableOrchestrationClient
                      ) -> func.HttpResponse:
    instance_id = await client.start_new("order_workflow", None, req.get_json())
    return client.create_check_status_response(req, instance_id)


@app.route(route="orders/{id}/rewind", methods=["POST"])
@app.durable_client_input(client_name="client")
async def rewind_order(req: func.HttpRequest, client: df.DurableOrchestrationClient
                       ) -> func.HttpResponse:
    await client.rewind(req.route_params["id"], "payment provider fixed")
    return func.HttpResponse(json.dumps({"rewound": req.route_params["id"]}), status_code=202,
                             mimetype="application/json")
