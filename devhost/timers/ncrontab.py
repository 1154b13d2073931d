"""Timer schedules as the WebJobs timer extension reads them (`TimerSchedule.Create`).

An expression is either NCRONTAB (`CronSchedule.TryCreate`: six fields with seconds first,
`{second} {minute} {hour} {day} {month} {day-of-week}`, or the classic five without seconds)
or a TimeSpan `hh:mm:ss` (`ConstantSchedule`: every interval from now). Anything else is
refused with the extension's own message. NCrontab's field syntax: `*`, numbers, ranges
`a-b`, steps `*/n` and `a-b/n`, lists `a,b`, month names (`Jan`…) and day names (`Sun`…,
Sunday = 0). Like NCrontab, a time must match the day-of-month AND the day-of-week field.

Occurrences are computed in wall-clock time of the host's time zone, then placed in that
zone (see `timezone()` in listener.py).
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import UTC, date, datetime, time, timedelta, tzinfo

from devhost.dotnet.timespan import parse_timespan

_MONTHS = ["jan", "feb", "mar", "apr", "may", "jun", "jul", "aug", "sep", "oct", "nov", "dec"]
_DAYS = ["sun", "mon", "tue", "wed", "thu", "fri", "sat"]
# (low, high, names, names start at)
_FIELDS = {"second": (0, 59, None, 0), "minute": (0, 59, None, 0), "hour": (0, 23, None, 0),
           "day": (1, 31, None, 0), "month": (1, 12, _MONTHS, 1),
           "day-of-week": (0, 6, _DAYS, 0)}
_SEARCH_DAYS = 366 * 5  # NCrontab also gives up past an end date


class ScheduleError(ValueError):
    pass


def _not_recognized(expression: str) -> ScheduleError:
    # TimerSchedule.Create's message.
    return ScheduleError(f"The schedule expression '{expression}' was not recognized as a valid "
                         "cron expression or timespan string.")


def _value(token: str, field: str, expression: str) -> int:
    low, high, names, base = _FIELDS[field]
    if names and token.lower()[:3] in names and not token.isdigit():
        return names.index(token.lower()[:3]) + base
    if not token.isdigit():
        raise _not_recognized(expression)
    number = int(token)
    if field == "day-of-week" and number == 7:  # NCrontab accepts 7 for Sunday too
        return 0
    if not low <= number <= high:
        raise _not_recognized(expression)
    return number


def _parse_field(text: str, field: str, expression: str) -> frozenset[int]:
    low, high, _, _ = _FIELDS[field]
    values: set[int] = set()
    for part in text.split(","):
        step = 1
        if "/" in part:
            part, step_text = part.split("/", 1)
            if not step_text.isdigit() or int(step_text) == 0:
                raise _not_recognized(expression)
            step = int(step_text)
        if part == "*":
            start, end = low, high
        elif "-" in part:
            first, last = part.split("-", 1)
            start, end = _value(first, field, expression), _value(last, field, expression)
            if end < start:
                raise _not_recognized(expression)
        else:
            start = _value(part, field, expression)
            end = high if step > 1 else start
        values.update(range(start, end + 1, step))
    return frozenset(values)


@dataclass(frozen=True)
class CronSchedule:
    expression: str
    seconds: frozenset[int]
    minutes: frozenset[int]
    hours: frozenset[int]
    days: frozenset[int]
    months: frozenset[int]
    weekdays: frozenset[int]  # Sunday = 0

    @property
    def has_seconds(self) -> bool:
        return len(self.expression.split()) == 6

    def next_after(self, now: datetime) -> datetime:
        """The first occurrence strictly after `now` (aware), in `now`'s time zone."""
        zone = now.tzinfo
        wall = now.replace(tzinfo=None, microsecond=0) + timedelta(seconds=1)
        for offset in range(_SEARCH_DAYS):
            day = wall.date() + timedelta(days=offset)
            if day.month not in self.months or day.day not in self.days \
                    or (day.weekday() + 1) % 7 not in self.weekdays:
                continue
            found = self._first_time(day, wall if offset == 0 else None)
            if found is not None:
                return _place(datetime.combine(day, found), zone)
        raise ScheduleError(f"the schedule '{self.expression}' has no occurrence in the next "
                            f"{_SEARCH_DAYS // 366} years")

    def _first_time(self, day: date, not_before: datetime | None) -> time | None:
        floor = not_before.time() if not_before is not None else time(0, 0, 0)
        for hour in sorted(h for h in self.hours if h >= floor.hour):
            for minute in sorted(self.minutes):
                if hour == floor.hour and minute < floor.minute:
                    continue
                for second in sorted(self.seconds):
                    candidate = time(hour, minute, second)
                    if candidate >= floor:
                        return candidate
        return None

    def is_sub_minute(self, now: datetime) -> bool:
        """`TimerSchedule.ShouldDisableScheduleMonitor`: only `X * * * * *` schedules that
        fire more than once within the next minute turn the schedule monitor off."""
        fields = self.expression.split()
        if not self.has_seconds or any(f != "*" for f in fields[1:]):
            return False
        first = self.next_after(now)
        return self.next_after(first) <= now + timedelta(minutes=1)


@dataclass(frozen=True)
class ConstantSchedule:
    expression: str
    interval: timedelta

    def next_after(self, now: datetime) -> datetime:
        return now + self.interval

    def is_sub_minute(self, now: datetime) -> bool:
        return self.interval < timedelta(minutes=1)


Schedule = CronSchedule | ConstantSchedule


def parse(expression: str) -> Schedule:
    text = expression.strip()
    fields = text.split()
    if len(fields) in (5, 6):
        if len(fields) == 5:
            fields = ["0", *fields]
        names = list(_FIELDS)
        parsed = [_parse_field(f, n, expression) for f, n in zip(fields, names, strict=True)]
        return CronSchedule(text, *parsed)
    interval = parse_timespan(text)
    if interval is not None and interval > timedelta(0):
        return ConstantSchedule(text, interval)
    raise _not_recognized(expression)


def _place(wall: datetime, zone: tzinfo | None) -> datetime:
    """Attach the zone. A wall time skipped by a DST spring-forward moves forward by the gap,
    as .NET's ToLocalTime does for the invalid local times NCrontab can produce."""
    placed = wall.replace(tzinfo=zone)
    if zone is None:
        return placed
    round_trip = placed.astimezone(UTC).astimezone(zone)
    if round_trip.replace(tzinfo=None) != wall:  # does not exist in this zone
        return round_trip
    return placed
