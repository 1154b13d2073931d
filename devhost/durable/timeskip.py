"""Time skipping for tests: durable timers fire at once and orchestration time jumps ahead.

Off by default (then this clock is the wall clock). A test of an orchestration that waits a
day should run in seconds, as in Temporal's time-skipping test environment. The orchestrator
must still *see* the day pass — the Durable SDK takes `current_utc_datetime` from each
episode's OrchestratorStarted timestamp (TaskOrchestrationExecutor.process_event), and its
LongTimerTask keeps scheduling timers until that time reaches the final fire time — so the
clock keeps an offset that each skipped timer moves forward to its fire time. Instance
metadata (created/last-updated times) stays on the wall clock.
"""

from __future__ import annotations

from datetime import datetime, timedelta

from devhost.durable.history import utcnow


class DurableClock:
    def __init__(self, skip_timers: bool = False) -> None:
        self.skip_timers = skip_timers
        self._offset = timedelta(0)

    def now(self) -> datetime:
        """The time orchestrations see (OrchestratorStarted timestamps)."""
        return utcnow() + self._offset

    def timer_due(self, fire_at: datetime) -> float:
        """When (epoch seconds) the TimerFired message for `fire_at` becomes deliverable."""
        if not self.skip_timers:
            return fire_at.timestamp()
        lag = fire_at - self.now()
        if lag > timedelta(0):
            self._offset += lag
        return 0.0
