"""An app without OpenTelemetry of its own: an HTTP function and a one-activity orchestration
that log through the root logger, so every row a collector receives is the host's."""

from __future__ import annotations

import logging

import azure.durable_functions as df
import azure.functions as func

app = df.DFApp(http_auth_level=func.AuthLevel.ANONYMOUS)


@app.route(route="ping", methods=["GET"])
def ping(req: func.HttpRequest, context: func.Context) -> func.HttpResponse:
    logging.info("ping called")
    return func.HttpResponse(context.trace_context.trace_parent)


@app.activity_trigger(input_name="name")
def greet(name: str) -> str:
    logging.info("greeting %s", name)
    return f"hello {name}"


@app.orchestration_trigger(context_name="context")
def greeting(context: df.DurableOrchestrationContext):
    return (yield context.call_activity("greet", "Ana"))
