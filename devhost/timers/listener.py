"""Timer triggers, scheduled as the WebJobs timer extension's `TimerListener` does.

- The schedule is evaluated in the host process's local time zone (`DateTimeOffset.Now`,
  `TimeZoneInfo.Local`). On Azure that is UTC unless the app sets `WEBSITE_TIME_ZONE`
  (Linux plans read it as an IANA name, as does devhost; `TZ` is honoured the same way).
  devhost follows Azure, not the developer's machine: UTC unless one of those is set.
- `useMonitor` (default on, `TimerTriggerAttribute.UseMonitor`) keeps a schedule status
  (`Last`, `Next`, `LastUpdated`) per timer, like `FileSystemScheduleMonitor` (one JSON file
  per timer under the data dir). At start, `ScheduleMonitor.CheckPastDueAsync` compares now
  with the recorded `Next`: if an occurrence was missed while the host was down, the function
  runs at once with `IsPastDue` true. Schedules firing more often than once a minute turn the
  monitor off (`TimerSchedule.ShouldDisableScheduleMonitor`).
- `runOnStartup` runs the function once when the host starts (past-due wins over it).
- After each invocation (failed or not) the status moves on: `Last` = the invocation time,
  or the scheduled `Next` when the timer fired a little early (`InvokeJobFunction`).

The function receives the TimerInfo JSON the host sends (`Schedule`, `ScheduleStatus`,
`IsPastDue`); azure.functions' `TimerRequestConverter` decodes it.
"""

from __future__ import annotations

import asyncio
import json
import logging
import os
import time
from collections.abc import Awaitable, Callable
from dataclasses import dataclass
from datetime import UTC, datetime, tzinfo
from pathlib import Path
from typing import Any
from zoneinfo import ZoneInfo, ZoneInfoNotFoundError

from devhost.host import typed
from devhost.host.app import AppIndex
from devhost.host.metadata import FunctionInfo, source_location
from devhost.host.nameresolver import UnresolvedName, resolve_whole_string
from devhost.timers.ncrontab import Schedule, ScheduleError, parse

log = logging.getLogger("devhost.timers")

TIMER_TRIGGER = "timerTrigger"
_DEFAULT = datetime(1, 1, 1, tzinfo=UTC)  # default(DateTime): "never"

# Invokes one function with its trigger data; raises what the function raised.
# The function and its trigger's ParameterBinding (the host's ToRpc of TimerInfo: JSON).
Invoke = Callable[[FunctionInfo, Any], Awaitable[Any]]


class TimerConfigError(ValueError):
    """A timer the host refuses to index (bad schedule, unknown time zone)."""

    location: tuple[str | None, int | None] = (None, None)


def timezone() -> tzinfo:
    for variable in ("WEBSITE_TIME_ZONE", "TZ"):
        name = os.environ.get(variable, "").strip()
        if name:
            try:
                return ZoneInfo(name)
            except (ZoneInfoNotFoundError, ValueError) as exc:
                raise TimerConfigError(
                    f"{variable}={name!r} is not a time zone devhost knows; use an IANA name "
                    "such as 'Europe/Berlin' (what Linux plans on Azure take)") from exc
    return UTC


def _resolve(expression: str) -> str:
    """`%Setting%` tokens anywhere in the schedule come from app settings
    (TimerSchedule.Create: nameResolver.ResolveWholeString)."""
    try:
        return resolve_whole_string(expression, os.environ)
    except UnresolvedName as exc:
        raise TimerConfigError(f"the timer schedule {expression!r}: {exc}") from exc


@dataclass
class Status:
    last: datetime
    next: datetime
    last_updated: datetime

    def to_json(self) -> dict[str, str]:
        return {"Last": self.last.isoformat(), "Next": self.next.isoformat(),
                "LastUpdated": self.last_updated.isoformat()}

    @staticmethod
    def from_json(data: dict[str, str]) -> Status:
        return Status(datetime.fromisoformat(data["Last"]), datetime.fromisoformat(data["Next"]),
                      datetime.fromisoformat(data["LastUpdated"]))


class ScheduleMonitor:
    """Schedule status per timer in a JSON file (FileSystemScheduleMonitor), written
    atomically so a crash leaves the old or the new status."""

    def __init__(self, directory: Path) -> None:
        self.directory = directory

    def _path(self, name: str) -> Path:
        return self.directory / f"{name}.status.json"

    def get(self, name: str) -> Status | None:
        try:
            return Status.from_json(json.loads(self._path(name).read_text()))
        except (FileNotFoundError, KeyError, ValueError):
            return None

    def update(self, name: str, status: Status) -> None:
        self.directory.mkdir(parents=True, exist_ok=True)
        tmp = self._path(name).with_suffix(".tmp")
        tmp.write_text(json.dumps(status.to_json()))
        tmp.replace(self._path(name))

    def check_past_due(self, name: str, now: datetime, schedule: Schedule,
                       last: Status | None) -> tuple[bool, Status]:
        """ScheduleMonitor.CheckPastDueAsync: (past due?, the status to go on with)."""
        if last is None:
            status = Status(_DEFAULT, schedule.next_after(now), now)
            self.update(name, status)
            return False, status
        if last.last != _DEFAULT:
            expected, updated = schedule.next_after(last.last), last.last
        elif last.last_updated != _DEFAULT:
            expected, updated = schedule.next_after(last.last_updated), last.last_updated
        else:
            expected, updated = schedule.next_after(now), now
        if last.next != expected:  # the schedule changed since the status was written
            if now > expected:
                expected, updated = schedule.next_after(now), now
            last = Status(_DEFAULT, expected, updated)
            self.update(name, last)
        return now > last.next, last


@dataclass
class Timer:
    fn: FunctionInfo
    schedule: Schedule
    run_on_startup: bool
    use_monitor: bool

    @property
    def name(self) -> str:
        return self.fn.name


def fired_reason(at: datetime | None = None) -> str:
    """The `Reason` of a timer invocation's `Executing '…'` row: "Timer fired at" and the
    time in .NET's round-trip format ("o": seven fractional digits, the offset)."""
    at = (at or datetime.now(UTC)).astimezone(UTC)
    return f"Timer fired at {at:%Y-%m-%dT%H:%M:%S}.{at.microsecond:06d}0+00:00"


def timers_of(index: AppIndex, zone: tzinfo | None = None) -> list[Timer]:
    """The app's timer functions, validated as the extension does when indexing."""
    zone = zone or timezone()
    now = datetime.now(zone)
    found = []
    for fn in index.functions:
        if fn.trigger.type != TIMER_TRIGGER:
            continue
        settings = fn.trigger.settings
        try:
            schedule = parse(_resolve(str(settings.get("schedule") or "")))
        except (ScheduleError, TimerConfigError) as exc:
            error = TimerConfigError(f"{fn.name}: {exc}")
            # The host knows the function's folder and script (the worker has the code).
            error.location = source_location(Path(fn.directory) / index.script_file, fn.name)
            raise error from exc
        use_monitor = settings.get("useMonitor")
        use_monitor = True if use_monitor is None else bool(use_monitor)
        if use_monitor and schedule.is_sub_minute(now):
            use_monitor = False
        found.append(Timer(fn, schedule, bool(settings.get("runOnStartup")), use_monitor))
    return found


def next_occurrences(timer: Timer, count: int = 5, zone: tzinfo | None = None
                     ) -> list[datetime]:
    moment = datetime.now(zone or timezone())
    out = []
    for _ in range(count):
        moment = timer.schedule.next_after(moment)
        out.append(moment)
    return out


class TimerHost:
    """One listener task per timer function; invocations go through `invoke`."""

    def __init__(self, index: AppIndex, invoke: Invoke, data_dir: Path,
                 zone: tzinfo | None = None) -> None:
        self.zone = zone or timezone()
        self.timers = timers_of(index, self.zone)
        self.monitor = ScheduleMonitor(data_dir / "timers")
        self._invoke = invoke
        self._tasks: list[asyncio.Task[None]] = []
        self._busy: dict[str, asyncio.Lock] = {}
        self._stopping = False

    def now(self) -> datetime:
        return datetime.now(self.zone)

    async def start(self) -> None:
        for timer in self.timers:
            self._busy[timer.name] = asyncio.Lock()
            self._tasks.append(asyncio.create_task(self._listen(timer),
                                                   name=f"timer:{timer.name}"))

    async def stop(self, timeout: float | None = None,
                   report: Callable[[str], None] | None = None) -> bool:
        """TimerListener.StopAsync: no new invocation; wait for the running ones (for at most
        `timeout` seconds: the host's shutdown bound). True when none was cut off."""
        self._stopping = True
        for task in self._tasks:
            if not self._busy_now(task):
                task.cancel()
        if not self._tasks:
            return True
        if report and any(self._busy_now(t) for t in self._tasks):
            report("Waiting for running timer functions to finish: "
                   + ", ".join(t.get_name().removeprefix("timer:") for t in self._tasks
                               if self._busy_now(t)))
        _, pending = await asyncio.wait(self._tasks, timeout=timeout)
        for task in pending:
            task.cancel()
        if pending and report:
            report(f"Shutdown timeout of {round(timeout or 0, 1):g}s reached; abandoning timer "
                   "functions: "
                   + ", ".join(t.get_name().removeprefix("timer:") for t in pending))
        await asyncio.gather(*self._tasks, return_exceptions=True)
        return not pending

    def _busy_now(self, task: asyncio.Task[None]) -> bool:
        name = task.get_name().removeprefix("timer:")
        lock = self._busy.get(name)
        return bool(lock and lock.locked())

    async def _listen(self, timer: Timer) -> None:
        now = self.now()
        status: Status | None = None
        past_due = False
        if timer.use_monitor:
            status = self.monitor.get(timer.name)
            past_due, status = self.monitor.check_past_due(timer.name, now, timer.schedule,
                                                           status)
        if status is None:
            status = Status(_DEFAULT, timer.schedule.next_after(now), _DEFAULT)
        if past_due:
            log.info("Timer '%s' is past due (it was due at %s)", timer.name,
                     status.next.isoformat())
            status = await self._fire(timer, status, past_due=True)
        elif timer.run_on_startup:
            status = await self._fire(timer, status, startup=True)
        while not self._stopping:
            await asyncio.sleep(max((status.next - self.now()).total_seconds(), 0.0))
            if self._stopping:
                return
            status = await self._fire(timer, status)

    async def _fire(self, timer: Timer, status: Status, past_due: bool = False,
                    startup: bool = False) -> Status:
        invoked_at = self.now()
        payload = {"Schedule": {"AdjustForDST": True},
                   "ScheduleStatus": status.to_json() if timer.use_monitor else None,
                   "IsPastDue": past_due}
        data = typed.binding(timer.fn.trigger.name, typed.json_data(json.dumps(payload)))
        async with self._busy[timer.name]:
            started = time.perf_counter()
            try:
                await self._invoke(timer.fn, data)
            except Exception:  # the schedule goes on whatever the function did
                log.debug("timer %s failed after %.0f ms", timer.name,
                          (time.perf_counter() - started) * 1000)
            adjusted = invoked_at
            if not past_due and not startup and status.next > invoked_at:
                adjusted = status.next
            status = Status(adjusted, timer.schedule.next_after(adjusted), adjusted)
            if timer.use_monitor:
                self.monitor.update(timer.name, status)
        return status
