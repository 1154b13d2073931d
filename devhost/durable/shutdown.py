"""Graceful shutdown of the durable engine, as the Functions host stops a job host.

The host stops its listeners, lets running invocations finish for a bounded time
(`WorkerProcessCountOptions.ProcessShutdownTimeout`, 10 s by default, in
azure-functions-host) and then goes away. For Durable that matters twice over: an activity
that finished must have its result committed, or the next start runs it again. So:

- nothing new starts: no episode, no activity, no timer (what is queued stays in the store);
- activities already running user code finish and commit their result in one transaction;
- the wait is bounded, and says what it waits for and when the bound cuts it off. Whatever
  is cut off is still stored as pending work, so the next start runs it (at least once).
"""

from __future__ import annotations

import time
from collections.abc import Callable

from devhost.durable.dispatcher import Draining

DEFAULT_TIMEOUT_S = 10.0  # WorkerProcessCountOptions.ProcessShutdownTimeout
_REPORT_EVERY_S = 2.0


def describe(engine: Draining) -> str:
    items = engine.running_activities
    return ", ".join(f"{i.name} (instance {i.instance_id}, task {i.task_id})" for i in items)


async def drain(engine: Draining, timeout: float, report: Callable[[str], None]) -> bool:
    engine.stop_taking_work()
    deadline = time.monotonic() + timeout
    next_report = 0.0
    while engine.busy:
        now = time.monotonic()
        if now >= deadline:
            running = describe(engine)
            report(f"Shutdown timeout of {round(timeout, 1):g}s reached; abandoning "
                   f"{len(engine.running_activities)} running activities"
                   + (f": {running}" if running else "")
                   + ". They are still pending in the store and run again at the next start.")
            return False
        if now >= next_report and engine.running_activities:
            report(f"Waiting up to {deadline - now:.1f}s for "
                   f"{len(engine.running_activities)} running activities to finish: "
                   f"{describe(engine)}")
            next_report = now + _REPORT_EVERY_S
        await engine.settle(min(0.1, max(deadline - now, 0.0)))
    return True
