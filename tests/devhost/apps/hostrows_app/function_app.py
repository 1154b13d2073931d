"""An app for the host-row tests, with Durable distributed tracing V2 off (no `tracing` in
host.json) and the Durable extension's category at Warning: an activity that logs a caught
exception, one that raises, and the orchestrator that calls both."""

from __future__ import annotations

import logging

import azure.durable_functions as df
import azure.functions as func

app = df.DFApp(http_auth_level=func.AuthLevel.ANONYMOUS)


@app.activity_trigger(input_name="value")
def caught(value: str) -> str:
    try:
        raise KeyError("caught and logged on purpose")
    except KeyError:
        logging.exception("handled: %s", value)
    return value


@app.activity_trigger(input_name="value")
def raises(value: str) -> str:
    raise ValueError(f"activity raised on purpose: {value}")


@app.orchestration_trigger(context_name="context")
def rows_run(context: df.DurableOrchestrationContext):
    yield context.call_activity("caught", "first")
    return (yield context.call_activity("raises", "second"))
