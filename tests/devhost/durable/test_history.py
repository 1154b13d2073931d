"""What an orchestration still awaits, read from its history: the engine lingers before an
episode only while some of it has not answered (linger.py)."""

from __future__ import annotations

import time
from pathlib import Path

from devhost.durable.history import ANSWER_TYPES, EventType, awaited_answers, event
from devhost.durable.store import Store


def _history(*kinds: EventType) -> list[dict[str, object]]:
    return [event(kind) for kind in kinds]


def test_scheduled_work_is_awaited_until_it_answers() -> None:
    started = _history(EventType.EXECUTION_STARTED, EventType.ORCHESTRATOR_STARTED,
                       EventType.SUB_ORCHESTRATION_CREATED,
                       EventType.SUB_ORCHESTRATION_CREATED, EventType.ORCHESTRATOR_COMPLETED)
    assert awaited_answers(started) == 2
    one_in = started + _history(EventType.ORCHESTRATOR_STARTED,
                                EventType.SUB_ORCHESTRATION_COMPLETED,
                                EventType.TASK_SCHEDULED, EventType.ORCHESTRATOR_COMPLETED)
    assert awaited_answers(one_in) == 2
    assert awaited_answers(one_in + _history(EventType.SUB_ORCHESTRATION_FAILED,
                                             EventType.TASK_FAILED)) == 0


def test_timers_and_events_are_not_answers_anyone_can_hurry() -> None:
    waiting = _history(EventType.EXECUTION_STARTED, EventType.TIMER_CREATED,
                       EventType.EVENT_RAISED)
    assert awaited_answers(waiting) == 0
    assert EventType.TIMER_FIRED not in ANSWER_TYPES
    assert EventType.EVENT_RAISED not in ANSWER_TYPES
    assert EventType.TASK_COMPLETED in ANSWER_TYPES


def test_the_store_counts_the_answers_waiting_in_an_inbox(tmp_path: Path) -> None:
    store = Store(tmp_path / "s.sqlite")
    with store.transaction():
        for kind in (EventType.TASK_COMPLETED, EventType.EVENT_RAISED,
                     EventType.SUB_ORCHESTRATION_FAILED, EventType.TIMER_FIRED):
            store.send("i", event(kind))
        store.send("other", event(EventType.TASK_COMPLETED))
    assert store.answers_waiting("i", time.time()) == 2
    assert store.answers_waiting("nobody", time.time()) == 0
