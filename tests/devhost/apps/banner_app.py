"""An app with one function of each kind, for the startup banner."""

from __future__ import annotations

import azure.durable_functions as df
import azure.functions as func

app = df.DFApp(http_auth_level=func.AuthLevel.ANONYMOUS)


@app.orchestration_trigger(context_name="context", orchestration="HelloCities")
def hello_cities(context: df.DurableOrchestrationContext):
    return (yield context.call_activity("SayHello", "Tokyo"))


@app.activity_trigger(input_name="city", activity="SayHello")
def say_hello(city: str) -> str:
    return f"Hello {city}"


@app.entity_trigger(context_name="context", entity_name="Counter")
def counter(context: df.DurableEntityContext) -> None:
    context.set_state(context.get_state(lambda: 0) + 1)


@app.timer_trigger(schedule="0 0 3 * * *", arg_name="timer", run_on_startup=False)
def nightly(timer: func.TimerRequest) -> None:
    pass


@app.queue_trigger(arg_name="msg", queue_name="work", connection="AzureWebJobsStorage")
def from_queue(msg: func.QueueMessage) -> None:
    pass


@app.route(route="Items/{id}", methods=["GET"])
@app.queue_output(arg_name="out", queue_name="work", connection="AzureWebJobsStorage")
def enqueue(req: func.HttpRequest, out: func.Out[str]) -> str:
    out.set(req.route_params["id"])
    return "queued"


@app.timer_trigger(schedule="0 */5 * * * *", arg_name="timer", run_on_startup=False)
@app.retry(strategy="fixed_delay", max_retry_count="3", delay_interval="00:00:10")
def retried(timer: func.TimerRequest) -> None:
    pass
