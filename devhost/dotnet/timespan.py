""".NET TimeSpan text (`[d.]hh:mm[:ss[.fffffff]]`, what TimeSpan.Parse reads): App Insights
durations, host.json intervals and timer schedules all use it."""

from __future__ import annotations

import re
from datetime import timedelta

_TIMESPAN = re.compile(r"^(?:(\d+)\.)?(\d{1,2}):(\d{1,2})(?::(\d{1,2})(?:\.(\d{1,7}))?)?$")


def parse_timespan(text: str) -> timedelta | None:
    """The interval, or None when `text` is not a TimeSpan with hours < 24, minutes and
    seconds < 60 (TimeSpan.Parse's overflow rules)."""
    match = _TIMESPAN.match(text.strip())
    if not match:
        return None
    days, hours, minutes, seconds, fraction = match.groups()
    if int(hours) >= 24 or int(minutes) >= 60 or int(seconds or 0) >= 60:
        return None
    return timedelta(days=int(days or 0), hours=int(hours), minutes=int(minutes),
                     seconds=int(seconds or 0),
                     microseconds=int((fraction or "0").ljust(7, "0")[:6]))
