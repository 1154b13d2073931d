"""Recorded histories replay through the real SDK to the same decisions."""

from __future__ import annotations

import asyncio
import json
from collections.abc import Callable

from devhost.durable.actions import sequenced_actions
from devhost.durable.engine import Engine
from devhost.durable.protocol import episodes, replay_all

from .support import run


def _record(engine: Engine, name: str, payload: str | None, iid: str) -> None:
    async def main() -> None:
        await engine.start()
        try:
            await run(engine, name, payload, instance_id=iid)
        finally:
            await engine.stop()

    asyncio.run(main())


def test_every_episode_replays_to_the_recorded_actions(
        engine_factory: Callable[[], Engine]) -> None:
    engine = engine_factory()
    _record(engine, "retrying", json.dumps("replay-key"), "rp")
    inst = engine.store.get_instance("rp")
    assert inst is not None
    history = engine.store.history("rp")
    fn = engine.index.orchestrators["retrying"]
    states = replay_all(engine.index.workers, fn, "rp", None, inst.input, history)
    assert len(states) == len(list(episodes(history))) >= 5
    final, error = states[-1]
    assert error is None and final is not None
    assert final["isDone"] and final["output"] == {"first": "replay-key ok after 3",
                                                    "second": 42}
    assert [a.function_name for a in sequenced_actions(final["actions"])] == ["flaky", "double"]


def test_replay_detects_a_changed_orchestrator(engine_factory: Callable[[], Engine]) -> None:
    engine = engine_factory()
    _record(engine, "fan_out", "3", "fo")
    inst = engine.store.get_instance("fo")
    assert inst is not None
    changed = engine.index.orchestrators["counter"]  # different code, same history
    states = replay_all(engine.index.workers, changed, "fo", None, inst.input,
                        engine.store.history("fo"))
    assert any(error is not None for _, error in states)
