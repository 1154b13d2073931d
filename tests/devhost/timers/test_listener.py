"""Timer listeners as the WebJobs timer extension runs them (azure-webjobs-sdk-extensions
Timers/Listener/TimerListener.cs: StartAsync, HandleTimerEvent, InvokeJobFunction;
Timers/Scheduling/ScheduleMonitor.cs: CheckPastDueAsync)."""

from __future__ import annotations

import asyncio
import json
import os
import time
from collections import Counter
from collections.abc import Callable, Iterator
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import pytest

from devhost.cli.start import load_app
from devhost.host import typed
from devhost.host.app import AppIndex
from devhost.host.channel import Invocation
from devhost.host.metadata import Binding, FunctionInfo
from devhost.timers.listener import (
    ScheduleMonitor,
    Status,
    TimerConfigError,
    TimerHost,
    fired_reason,
    timers_of,
    timezone,
)
from devhost.timers.ncrontab import parse

from ..support import APPS


@pytest.fixture()
def app(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Iterator[AppIndex]:
    monkeypatch.setenv("TIMER_RECORD_DIR", str(tmp_path / "records"))
    monkeypatch.setenv("HOURLY_SCHEDULE", "0 0 * * * *")
    monkeypatch.setenv("STARTUP_SCHEDULE", "0 0 0 1 Jan *")
    monkeypatch.setenv("FAST_SCHEDULE", "*/1 * * * * *")
    monkeypatch.delenv("WEBSITE_TIME_ZONE", raising=False)
    monkeypatch.delenv("TZ", raising=False)
    index = load_app("timer_app", APPS)
    _APP[:] = [index]
    yield index
    index.workers.stop()


_APP: list[AppIndex] = []


async def _invoke(fn: FunctionInfo, trigger: Any) -> Any:
    """Through the worker, as the host's timer invocations go (the timer info as JSON)."""
    outcome = await _APP[0].workers.invoke(Invocation(fn, [trigger]))
    if not outcome.ok:
        raise outcome.as_exception()
    return typed.text(outcome.return_value)


def _records(tmp_path: Path, name: str) -> list[dict[str, Any]]:
    path = tmp_path / "records" / f"{name}.jsonl"
    return [json.loads(line) for line in path.read_text().splitlines()] if path.exists() else []


class _Invocations:
    """The host's invocations through the worker, counted as they end."""

    def __init__(self) -> None:
        self.ended: Counter[str] = Counter()

    async def __call__(self, fn: FunctionInfo, trigger: Any) -> Any:
        try:
            return await _invoke(fn, trigger)
        finally:
            self.ended[fn.name] += 1


def _run(host: TimerHost, until: Callable[[], bool] = lambda: True) -> None:
    """Start the host; stop it once every listener took its first step and `until` holds.
    A listener's first step, before it first waits, checks the schedule status and starts
    the past-due or startup invocation, and stop() lets an invocation under way finish:
    whatever is due at start has run by the time this returns."""
    async def main() -> None:
        await host.start()
        await asyncio.sleep(0)  # each listener's first step
        while not until():
            await asyncio.sleep(0.01)
        await asyncio.sleep(0)  # a listener whose invocation just ended takes its next step
        await host.stop()

    asyncio.run(main())


@pytest.mark.host
def test_past_due_across_a_restart_runs_at_once_with_is_past_due(app: AppIndex,
                                                                tmp_path: Path) -> None:
    data = tmp_path / "data"
    # The host last ran two hours ago: it recorded the next hourly occurrence, then stopped.
    now = datetime.now(UTC)
    last = now.replace(minute=0, second=0, microsecond=0) - timedelta(hours=2)
    schedule = parse("0 0 * * * *")
    ScheduleMonitor(data / "timers").update("hourly", Status(last, schedule.next_after(last),
                                                             last))
    _run(TimerHost(app, _invoke, data))
    runs = _records(tmp_path, "hourly")
    assert len(runs) == 1 and runs[0]["past_due"] is True
    assert datetime.fromisoformat(runs[0]["status"]["Next"]) == last + timedelta(hours=1)
    after = ScheduleMonitor(data / "timers").get("hourly")
    assert after is not None and after.next > now  # the status moved on, persisted

    _run(TimerHost(app, _invoke, data))  # restart again: nothing missed this time
    assert len(_records(tmp_path, "hourly")) == 1


@pytest.mark.host
def test_first_start_records_a_status_and_is_not_past_due(app: AppIndex, tmp_path: Path) -> None:
    data = tmp_path / "data"
    _run(TimerHost(app, _invoke, data))
    assert _records(tmp_path, "hourly") == []
    status = ScheduleMonitor(data / "timers").get("hourly")
    assert status is not None and status.next > datetime.now(UTC)


@pytest.mark.host
def test_run_on_startup_runs_once_without_a_schedule_status(app: AppIndex,
                                                            tmp_path: Path) -> None:
    invocations = _Invocations()
    # Stopped once the startup invocation ended and its listener took its next step: another
    # invocation due at once would be under way (and stop() lets it finish).
    _run(TimerHost(app, invocations, tmp_path / "data"),
         until=lambda: invocations.ended["on_startup"] >= 1)
    assert _records(tmp_path, "on_startup") == [{"past_due": False, "status": {}}]


@pytest.mark.host
def test_sub_minute_schedule_fires_without_monitor_and_survives_failures(
        app: AppIndex, tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("FAST_TIMER_FAILS", "1")
    invocations = _Invocations()
    host = TimerHost(app, invocations, tmp_path / "data")
    fast = next(t for t in host.timers if t.name == "fast")
    assert fast.use_monitor is False  # ShouldDisableScheduleMonitor
    started = time.monotonic()
    _run(host, until=lambda: invocations.ended["fast"] >= 2)
    elapsed = time.monotonic() - started
    runs = _records(tmp_path, "fast")
    assert 2 <= len(runs) <= 3  # failures do not stop the schedule (one may be under way)
    assert elapsed >= 0.95, elapsed  # at its pace: once a second, the first failure included
    assert ScheduleMonitor(tmp_path / "data" / "timers").get("fast") is None


def test_time_zone_is_utc_unless_website_time_zone(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.delenv("WEBSITE_TIME_ZONE", raising=False)
    monkeypatch.delenv("TZ", raising=False)
    assert timezone() is UTC
    monkeypatch.setenv("WEBSITE_TIME_ZONE", "Europe/Berlin")
    assert str(timezone()) == "Europe/Berlin"
    monkeypatch.setenv("WEBSITE_TIME_ZONE", "W. Europe Standard Time")
    with pytest.raises(TimerConfigError, match="IANA"):
        timezone()


@pytest.mark.host
def test_bad_schedule_is_refused_when_indexing(app: AppIndex,
                                               monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("HOURLY_SCHEDULE", "every hour")
    with pytest.raises(TimerConfigError, match="hourly: The schedule expression 'every hour'"):
        TimerHost(app, _invoke, Path(os.devnull))


@pytest.mark.host
def test_stop_waits_for_a_running_timer_function_within_the_bound(app: AppIndex,
                                                                  tmp_path: Path) -> None:
    """TimerListener.StopAsync waits for the invocation in progress; devhost bounds that wait
    by the host's shutdown timeout and says what it abandons."""
    release = asyncio.Event()
    started = asyncio.Event()

    async def slow(fn: FunctionInfo, trigger: Any) -> None:
        if fn.name == "on_startup":
            started.set()
            await release.wait()

    lines: list[str] = []

    async def main() -> tuple[bool, bool]:
        host = TimerHost(app, slow, tmp_path / "data")
        await host.start()
        await started.wait()
        cut = await host.stop(timeout=0.2, report=lines.append)
        host2 = TimerHost(app, slow, tmp_path / "data2")
        release.set()
        started.clear()
        await host2.start()
        await started.wait()  # its startup invocation ran (released: it returns at once)
        clean = await host2.stop(timeout=1, report=lines.append)
        return cut, clean

    cut, clean = asyncio.run(main())
    assert cut is False and clean is True
    assert lines[0] == "Waiting for running timer functions to finish: on_startup"
    assert lines[1] == "Shutdown timeout of 0.2s reached; abandoning timer functions: on_startup"


def test_a_timer_invocation_reason_is_when_it_fired_in_round_trip_format() -> None:
    """`Executing 'Functions.<timer>' (Reason='Timer fired at 2026-11-26T02:00:00.0012340+00:00'
    …)`: .NET's "o" format, seven fractional digits and the offset."""
    at = datetime(2026, 11, 26, 2, 0, 0, 1234, tzinfo=UTC)
    assert fired_reason(at) == "Timer fired at 2026-11-26T02:00:00.0012340+00:00"


def test_setting_tokens_anywhere_in_a_schedule_resolve_from_app_settings(
        monkeypatch: pytest.MonkeyPatch) -> None:
    """TimerSchedule.Create resolves the expression with nameResolver.ResolveWholeString:
    every `%NAME%` token, not only a whole-string one; an unset one refuses the function."""
    trigger = Binding("timerTrigger", "timer", "in", {"schedule": "0 %MINUTE% * * * *"})
    index = AppIndex("function_app.py", [FunctionInfo("every_hour", "id", trigger, (trigger,))])
    monkeypatch.setenv("MINUTE", "7")
    [timer] = timers_of(index)
    assert timer.schedule.expression == "0 7 * * * *"
    monkeypatch.delenv("MINUTE")
    with pytest.raises(TimerConfigError, match="'%MINUTE%' does not resolve"):
        timers_of(index)


@pytest.mark.host
def test_a_timer_invocation_gets_the_host_activitys_own_id(app: AppIndex,
                                                          tmp_path: Path) -> None:
    """WorkerFunctionInvoker hands the worker `Activity.Current?.Id`: a timer's Activity has
    no caller, so it starts a trace, flags 00, and has its id even when nothing records it
    (no connection string here)."""
    from devhost.cli.start import host_server
    from devhost.durable.engine import Engine
    from devhost.durable.store import Store
    from devhost.host.server import BackgroundHost

    from ..support import until

    server = host_server(app, Engine(app, Store(tmp_path / "d.sqlite")), port=0,
                         data_dir=tmp_path / "data")
    with BackgroundHost(server):
        path = tmp_path / "records" / "on_startup.traceparent"
        until(path.exists, 30)
    version, trace_id, span_id, flags = path.read_text().split("-")
    assert version == "00" and int(trace_id, 16) and int(span_id, 16) and flags == "00"
