"""Lingering waits only for answers that are missing, and ends when they are in.

DurableTask.Core's TaskOrchestrationDispatcher replays once per work item (the messages
fetched for the instance's session); devhost's engine sees messages one at a time, so it
waits for the answers a fan-in awaits to batch them the same way (docs/devhost.md lists how
episode counts may still differ)."""

from __future__ import annotations

import asyncio
from pathlib import Path

from devhost.durable.dispatcher import HistoryCache
from devhost.durable.history import EventType, event
from devhost.durable.linger import MAX_LINGER, Lingering
from devhost.durable.store import Store


def _fan_in(tmp_path: Path, children: int, answered: int) -> Lingering:
    store, histories = Store(tmp_path / "s.sqlite"), HistoryCache()
    histories.put("parent", [event(EventType.EXECUTION_STARTED)]
                  + [event(EventType.SUB_ORCHESTRATION_CREATED) for _ in range(children)])
    with store.transaction():
        for _ in range(answered):
            store.send("parent", event(EventType.SUB_ORCHESTRATION_COMPLETED))
    return Lingering(store, histories)


def test_nothing_missing_nothing_to_wait_for(tmp_path: Path) -> None:
    assert _fan_in(tmp_path, children=2, answered=2).answers_missing("parent") == 0
    assert _fan_in(tmp_path / "b", children=3, answered=1).answers_missing("parent") == 2


def test_an_unknown_history_waits_as_before(tmp_path: Path) -> None:
    assert _fan_in(tmp_path, children=1, answered=1).answers_missing("elsewhere") == 1


def test_the_last_answer_ends_the_wait(tmp_path: Path) -> None:
    lingering = _fan_in(tmp_path, children=3, answered=1)

    async def scenario() -> bool:
        waiting = asyncio.ensure_future(lingering.wait("parent", MAX_LINGER))
        await asyncio.sleep(0)
        lingering.arrived("parent")
        for _ in range(3):
            await asyncio.sleep(0)
        assert not waiting.done()  # one answer is still missing
        lingering.arrived("parent")
        for _ in range(3):
            await asyncio.sleep(0)
        done = waiting.done()
        waiting.cancel()
        return done

    assert asyncio.run(scenario())
