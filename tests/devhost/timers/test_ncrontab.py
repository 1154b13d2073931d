"""NCRONTAB and TimeSpan schedules as the timer extension reads them
(azure-webjobs-sdk-extensions Timers/Scheduling: TimerSchedule.Create, CronSchedule.TryCreate,
ConstantSchedule, TimerSchedule.ShouldDisableScheduleMonitor)."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta
from zoneinfo import ZoneInfo

import pytest

from devhost.timers.ncrontab import ConstantSchedule, ScheduleError, parse

NOW = datetime(2026, 11, 26, 1, 30, 15, tzinfo=UTC)  # a Thursday


def _next(expression: str, count: int = 3, now: datetime = NOW) -> list[str]:
    schedule, out, moment = parse(expression), [], now
    for _ in range(count):
        moment = schedule.next_after(moment)
        out.append(moment.isoformat())
    return out


def test_six_fields_seconds_first() -> None:
    assert _next("*/10 * * * * *") == ["2026-11-26T01:30:20+00:00", "2026-11-26T01:30:30+00:00",
                                       "2026-11-26T01:30:40+00:00"]
    assert _next("0 */5 * * * *") == ["2026-11-26T01:35:00+00:00", "2026-11-26T01:40:00+00:00",
                                      "2026-11-26T01:45:00+00:00"]


def test_five_fields_have_no_seconds() -> None:
    assert _next("5 * * * *", 2) == ["2026-11-26T02:05:00+00:00", "2026-11-26T03:05:00+00:00"]


def test_names_ranges_and_day_of_month_and_week_both_restrict() -> None:
    assert _next("0 30 9 * * Mon-Fri") == ["2026-11-26T09:30:00+00:00",
                                           "2026-11-27T09:30:00+00:00",
                                           "2026-11-30T09:30:00+00:00"]
    assert _next("0 0 0 1 Jan *", 2) == ["2027-01-01T00:00:00+00:00",
                                         "2028-01-01T00:00:00+00:00"]
    assert _next("0 0 12 * * 0", 1) == ["2026-11-29T12:00:00+00:00"]  # Sunday = 0
    # NCrontab ANDs day-of-month and day-of-week: the 13th that is a Friday.
    assert _next("0 0 0 13 * Fri", 1) == ["2027-08-13T00:00:00+00:00"]


def test_timespan_is_a_constant_schedule() -> None:
    schedule = parse("00:05:00")
    assert isinstance(schedule, ConstantSchedule)
    assert schedule.next_after(NOW) == NOW + timedelta(minutes=5)


@pytest.mark.parametrize("bad", ["", "* * *", "61 * * * * *", "0 0 25 * * *", "hello",
                                 "*/0 * * * * *", "0 0 0 * Foo *"])
def test_invalid_expressions_get_the_extensions_message(bad: str) -> None:
    with pytest.raises(ScheduleError, match="was not recognized as a valid cron expression or "
                                            "timespan string"):
        parse(bad)


def test_sub_minute_schedules_turn_the_monitor_off() -> None:
    assert parse("*/10 * * * * *").is_sub_minute(NOW)
    assert not parse("0 * * * * *").is_sub_minute(NOW)  # exactly once a minute: kept
    assert not parse("0 */5 * * * *").is_sub_minute(NOW)
    assert parse("00:00:30").is_sub_minute(NOW)


def test_wall_clock_in_the_time_zone_and_spring_forward() -> None:
    berlin = ZoneInfo("Europe/Berlin")
    assert _next("0 0 9 * * *", 1, NOW.astimezone(berlin)) == ["2026-11-26T09:00:00+01:00"]
    # 02:30 does not exist on 2026-03-29 in Berlin: it moves forward by the gap.
    assert _next("0 30 2 * * *", 1, datetime(2026, 3, 28, 12, tzinfo=berlin)) == [
        "2026-03-29T03:30:00+02:00"]
