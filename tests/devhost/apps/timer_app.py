"""A DFApp with timer triggers for devhost's timer tests (schedules come from app settings,
as `%Setting%` expressions, so each test picks its own)."""

from __future__ import annotations

import json
import os
from pathlib import Path

import azure.durable_functions as df
import azure.functions as func

app = df.DFApp(http_auth_level=func.AuthLevel.ANONYMOUS)


def _record(name: str, timer: func.TimerRequest) -> None:
    out = Path(os.environ["TIMER_RECORD_DIR"]) / f"{name}.jsonl"
    out.parent.mkdir(parents=True, exist_ok=True)
    with out.open("a") as handle:
        # func.TimerRequest is the abstract class, which declares past_due only; the worker
        # hands the concrete azure.functions.timer.TimerRequest, which has the status too.
        handle.write(json.dumps({"past_due": timer.past_due,
                                 "status": timer.schedule_status}) + "\n")  # type: ignore[attr-defined]


@app.timer_trigger(schedule="%HOURLY_SCHEDULE%", arg_name="timer")
def hourly(timer: func.TimerRequest) -> None:
    _record("hourly", timer)


@app.timer_trigger(schedule="%STARTUP_SCHEDULE%", arg_name="timer", run_on_startup=True,
                   use_monitor=False)
def on_startup(timer: func.TimerRequest, context: func.Context) -> None:
    _record("on_startup", timer)
    (Path(os.environ["TIMER_RECORD_DIR"]) / "on_startup.traceparent").write_text(
        context.trace_context.trace_parent)


@app.timer_trigger(schedule="%FAST_SCHEDULE%", arg_name="timer")
def fast(timer: func.TimerRequest) -> None:
    _record("fast", timer)
    if os.environ.get("FAST_TIMER_FAILS"):
        raise RuntimeError("fast timer failed")
