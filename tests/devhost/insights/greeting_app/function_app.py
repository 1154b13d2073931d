"""A held-out user app for the portal's tests: a greeting orchestration whose activity fails
for one name, written as a user would (no telemetry package, only the SDKs): what the portal
shows of a failure comes from the host's rows and the worker's exception alone."""

from __future__ import annotations

from typing import Any

import azure.durable_functions as df
import azure.functions as func

app = df.DFApp(http_auth_level=func.AuthLevel.ANONYMOUS)


@app.activity_trigger(input_name="name")
def say_hello(name: str) -> str:
    if name == "Tokyo":
        raise RuntimeError(f"greeting service unavailable for {name}")
    return f"Hello {name}"


@app.orchestration_trigger(context_name="context")
def hello_cities(context: df.DurableOrchestrationContext) -> Any:
    greetings = []
    for city in ("Seattle", "Tokyo"):
        greetings.append((yield context.call_activity("say_hello", city)))
    return greetings
