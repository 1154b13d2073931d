"""Lingering before an episode, so completions that arrive meanwhile join one replay.

The extension replays an orchestration once per work item: the messages fetched or buffered
for the instance's session when its turn comes (DurableTask.Core
`TaskOrchestrationDispatcher`; how many depends on the backend's batch size, prefetch and
extended sessions). devhost's engine sees each message the moment it is committed,
so without waiting a fan-in of N would replay N times. It waits as long as the instance's
last replay took (so a fan-out of N costs O(N) replays' worth of time, not O(N^2)), and only
while some answer the instance awaits is missing: when every one is already in its inbox,
waiting would add latency and batch nothing.
"""

from __future__ import annotations

import asyncio
import time

from devhost.durable.dispatcher import HistoryCache
from devhost.durable.history import awaited_answers
from devhost.durable.store import Store

MIN_LINGER = 0.002  # seconds: below this, batching is not worth the added latency
MAX_LINGER = 0.25


class Lingering:
    """The instances waiting before their episode, and how many answers each still lacks.
    Lives on the engine's event loop."""

    def __init__(self, store: Store, histories: HistoryCache) -> None:
        self._store = store
        self._histories = histories
        self._waiting: dict[str, tuple[asyncio.Event, list[int]]] = {}

    async def wait(self, instance_id: str, last_replay_s: float) -> None:
        """Wait up to the last replay's time for the answers the instance still awaits;
        return as soon as they are all in, or at once when none is missing."""
        seconds = min(last_replay_s, MAX_LINGER)
        if seconds <= MIN_LINGER:
            return
        missing = self.answers_missing(instance_id)
        if missing <= 0:
            return
        wake = asyncio.Event()
        self._waiting[instance_id] = (wake, [missing])
        try:
            await asyncio.wait_for(wake.wait(), seconds)
        except TimeoutError:
            pass
        finally:
            self._waiting.pop(instance_id, None)

    def arrived(self, instance_id: str) -> None:
        """A message for `instance_id` was committed. Most likely one of the answers it
        awaits; if not, its episode merely starts sooner than it would have."""
        waiting = self._waiting.get(instance_id)
        if waiting is not None:
            wake, missing = waiting
            missing[0] -= 1
            if missing[0] <= 0:
                wake.set()

    def answers_missing(self, instance_id: str) -> int:
        """Activities and sub-orchestrations the instance awaits that have not answered,
        from its cached history and its inbox. History not cached (an entity, the turn after
        a ContinueAsNew, a restart): 1, so the instance waits for the next message or as long
        as its last replay took, whichever comes first."""
        history = self._histories.get(instance_id)
        if history is None:
            return 1
        awaited = awaited_answers(history)
        if awaited <= 0:
            return 0
        return awaited - self._store.answers_waiting(instance_id, time.time())
