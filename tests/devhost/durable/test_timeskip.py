"""Timer skipping (EngineOptions.skip_timers, devhost.testing's default): a timer fires at
once and the orchestration's clock moves to its fire time, because the Durable SDK takes
`current_utc_datetime` from each episode's OrchestratorStarted timestamp
(azure-functions-durable: TaskOrchestrationExecutor.process_event)."""

from __future__ import annotations

import asyncio
from datetime import timedelta
from pathlib import Path

from devhost.durable.engine import Engine, EngineOptions
from devhost.durable.history import EventType, utcnow
from devhost.durable.store import Store
from devhost.durable.timeskip import DurableClock
from devhost.host.app import AppIndex

from .support import run


def test_the_clock_jumps_to_a_skipped_timer_and_never_back() -> None:
    clock = DurableClock(skip_timers=True)
    fire_at = utcnow() + timedelta(days=1)
    assert clock.timer_due(fire_at) == 0.0
    assert clock.now() >= fire_at
    assert clock.timer_due(fire_at - timedelta(hours=1)) == 0.0  # already past: no jump back
    assert clock.now() >= fire_at


def test_without_skipping_a_timer_is_due_at_its_fire_time() -> None:
    clock = DurableClock()
    fire_at = utcnow() + timedelta(days=1)
    assert clock.timer_due(fire_at) == fire_at.timestamp()
    assert clock.now() < fire_at


def _engine(index: AppIndex, tmp_path: Path, skip: bool) -> Engine:
    return Engine(index, Store(tmp_path / "durable.sqlite"), EngineOptions(skip_timers=skip))


def test_a_day_long_timer_completes_when_skipping(semantics_index: AppIndex,
                                                  tmp_path: Path) -> None:
    engine = _engine(semantics_index, tmp_path, skip=True)

    async def go() -> dict[str, object]:
        await engine.start()
        try:
            return await run(engine, "timer_then_activity", "86400")
        finally:
            await engine.stop()

    status = asyncio.run(go())
    assert status["runtimeStatus"] == "Completed" and status["output"] == 10
    history = engine.store.history(str(status["instanceId"]))
    fire_at = next(e["FireAt"] for e in history if e.get("FireAt"))
    # The episode after the timer ran at (orchestration) time >= the fire time.
    starts = [e["Timestamp"] for e in history if e["EventType"] == EventType.ORCHESTRATOR_STARTED]
    assert starts[-1] >= fire_at > starts[0]
    engine.store.close()


def test_the_same_timer_waits_without_skipping(semantics_index: AppIndex, tmp_path: Path) -> None:
    engine = _engine(semantics_index, tmp_path, skip=False)

    async def go() -> dict[str, object]:
        await engine.start()
        try:
            return await run(engine, "timer_then_activity", "86400", timeout=1)
        finally:
            await engine.stop()

    assert asyncio.run(go())["runtimeStatus"] == "Running"
    engine.store.close()
