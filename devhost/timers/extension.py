"""The timer extension as the host sees it: a host extension (devhost/host/extensions.py).

Follows azure-webjobs-sdk-extensions' `TimersExtensionConfigProvider` (an
`IExtensionConfigProvider` adding the timerTrigger rule) and its `TimerTriggerBinding`, whose
`TimerListener` invokes the function through the host's `ITriggeredFunctionExecutor`: here
`ExtensionHost.invoke`, with the `Timer fired at …` reason. The listeners are built when the
host starts (the schedules are validated then, as the host indexes) and stopped on shutdown,
a running invocation given the host's shutdown timeout (`TimerListener.StopAsync`).
"""

from __future__ import annotations

from collections.abc import Callable, Mapping
from pathlib import Path
from typing import Any

from aiohttp import web

from devhost.host.app import AppIndex
from devhost.host.extensions import ExtensionHost, InputBinding
from devhost.host.metadata import FunctionInfo
from devhost.timers.listener import (
    TIMER_TRIGGER,
    TimerHost,
    fired_reason,
    next_occurrences,
)


class TimerExtension:
    """The app's timer functions, scheduled while the host runs; status files under
    `data_dir/timers`."""

    trigger_types = frozenset({TIMER_TRIGGER})

    def __init__(self, index: AppIndex, data_dir: Path) -> None:
        self.index = index
        self.data_dir = data_dir
        self.timers: TimerHost | None = None
        self._host: ExtensionHost | None = None

    def initialize(self, host: ExtensionHost) -> None:
        self._host = host

    def input_bindings(self) -> Mapping[str, InputBinding]:
        return {}

    def add_routes(self, app: web.Application) -> None:
        pass  # no webhook

    async def _invoke(self, fn: FunctionInfo, trigger: Any) -> Any:
        if self._host is None:
            raise RuntimeError("the timer extension is not initialized by a host")
        return await self._host.invoke(fn, trigger, fired_reason(), "timer")

    def describe(self, fn: FunctionInfo) -> str | None:
        if self.timers is None:  # not started: nothing is scheduled
            return None
        timer = next((t for t in self.timers.timers if t.name == fn.name), None)
        if timer is None:
            return None
        upcoming = next_occurrences(timer, 1, self.timers.zone)
        return (f"timerTrigger  (schedule: {timer.schedule.expression}, {self.timers.zone}; "
                f"next: {upcoming[0].isoformat()}"
                + ("; runOnStartup" if timer.run_on_startup else "")
                + ("" if timer.use_monitor else "; no schedule monitor") + ")")

    def banner_lines(self) -> list[str]:
        return []

    async def start(self) -> None:
        self.timers = TimerHost(self.index, self._invoke, self.data_dir)
        await self.timers.start()

    async def drain(self, timeout: float, report: Callable[[str], None]) -> bool:
        return await self.timers.stop(timeout, report) if self.timers else True

    async def stop(self) -> None:
        if self.timers:
            await self.timers.stop()

    def close(self) -> None:
        pass  # the schedule status is written as it changes
