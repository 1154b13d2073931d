"""The v1 HTTP starter: the durable client arrives as a JSON string (the binding's payload),
which the SDK's client is built from."""

import json
import logging

import azure.durable_functions as df
import azure.functions as func


async def main(req: func.HttpRequest, starter: str) -> func.HttpResponse:
    client = df.DurableOrchestrationClient(starter)
    body = req.get_body()
    instance_id = await client.start_new(req.route_params["functionName"], None,
                                         json.loads(body) if body else None)
    logging.info("Started orchestration with ID = '%s'.", instance_id)
    return client.create_check_status_response(req, instance_id)
