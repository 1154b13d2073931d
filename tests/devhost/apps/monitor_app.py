"""Sample-style app: a singleton monitor kept alive by a timer trigger (the "monitor" and
"singleton orchestrator" patterns of the Durable Functions docs)."""

from __future__ import annotations

import os
from datetime import timedelta
from pathlib import Path

import azure.durable_functions as df
import azure.functions as func

app = df.DFApp(http_auth_level=func.AuthLevel.ANONYMOUS)
MONITOR_ID = "job-monitor"
_TICKS = Path(os.environ.get("MONITOR_TICKS_FILE", "/tmp/devhost-monitor-ticks"))


@app.timer_trigger(schedule="*/1 * * * * *", arg_name="timer", run_on_startup=True)
@app.durable_client_input(client_name="client")
async def keep_monitor_running(timer: func.TimerRequest,
                               client: df.DurableOrchestrationClient) -> None:
    with _TICKS.open("a") as ticks:
        ticks.write("tick\n")
    existing = await client.get_status(MONITOR_ID)
    if existing.runtime_status not in (df.OrchestrationRuntimeStatus.Running,
                                       df.OrchestrationRuntimeStatus.Pending):
        await client.start_new("job_monitor", MONITOR_ID, {"checks": 3})


@app.activity_trigger(input_name="attempt")
def check_job(attempt: int) -> bool:
    return attempt >= 2  # the job is done on the third check


@app.orchestration_trigger(context_name="context")
def job_monitor(context: df.DurableOrchestrationContext):
    checks = context.get_input()["checks"]
    for attempt in range(checks):
        if (yield context.call_activity("check_job", attempt)):
            return {"done_after": attempt + 1}
        yield context.create_timer(context.current_utc_datetime + timedelta(milliseconds=200))
    return {"done_after": None}
