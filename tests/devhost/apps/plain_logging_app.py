"""An app without OpenTelemetry that logs at INFO through the root logger, as many do."""

from __future__ import annotations

import logging
import sys

import azure.durable_functions as df
import azure.functions as func

logging.basicConfig(level=logging.INFO, stream=sys.stdout, format="APPLOG %(name)s: %(message)s")
app = df.DFApp(http_auth_level=func.AuthLevel.ANONYMOUS)


@app.activity_trigger(input_name="name")
def greet(name: str) -> str:
    logging.getLogger("plain").info("greeting %s", name)
    return f"hello {name}"


@app.orchestration_trigger(context_name="context")
def greeting(context: df.DurableOrchestrationContext):
    return (yield context.call_activity("greet", context.get_input()))
