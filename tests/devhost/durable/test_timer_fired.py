"""TimerFired keeps the time the timer was *scheduled* as its Timestamp, and the fire time in
FireAt, as DurableTask.Core + DurableTask.AzureStorage record it:
TaskOrchestrationDispatcher.ProcessCreateTimerDecision builds the TimerFiredEvent when the
orchestrator creates the timer; the HistoryEvent constructor stamps Timestamp = UtcNow then;
Timestamp is a [DataMember], so the queue message carries it unchanged until delivery, and
AzureTableTrackingStore stores it as `_Timestamp` (TableEntityConverter). The issue that asked
for the fire time here was checked against these sources and not followed."""

from __future__ import annotations

import asyncio
from collections.abc import Callable
from datetime import datetime

from devhost.durable.engine import Engine
from devhost.durable.history import EventType

from .support import run


def test_timer_fired_timestamp_is_when_it_was_scheduled(engine_factory: Callable[[], Engine]
                                                       ) -> None:
    engine = engine_factory()

    async def main() -> None:
        await engine.start()
        try:
            status = await run(engine, "timer_then_activity", "0.6", instance_id="tf")
            assert status["runtimeStatus"] == "Completed"
        finally:
            await engine.stop()

    asyncio.run(main())
    history = engine.store.history("tf")
    created = next(e for e in history if e["EventType"] == EventType.TIMER_CREATED)
    fired = next(e for e in history if e["EventType"] == EventType.TIMER_FIRED)
    started_after = next(e for e in history[history.index(fired) - 1::-1]
                         if e["EventType"] == EventType.ORCHESTRATOR_STARTED)
    assert fired["FireAt"] == created["FireAt"]
    when = datetime.fromisoformat(fired["Timestamp"])
    assert abs((when - datetime.fromisoformat(created["Timestamp"])).total_seconds()) < 0.1
    # ...while the episode that delivered it started at (or after) the fire time.
    assert datetime.fromisoformat(started_after["Timestamp"]) >= datetime.fromisoformat(
        fired["FireAt"])
