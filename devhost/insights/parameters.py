"""Workbook parameters in a query, substituted as an Azure Monitor workbook substitutes them
before it sends the query, so a query pasted from a workbook runs locally as it runs there.

What the workbook does (learn.microsoft.com/azure/azure-monitor/visualize/
workbooks-parameters, "Parameter formatting" and workbooks-time "Time parameter options"):
- `{Name}` is replaced by the parameter's value as it is, `{Name:escape}` with its quotes
  escaped (`"` → `\\"`), `{Name:label}` and `{Name:value}` by the label/value (the same text
  here: local parameters have no separate labels).
- A time range parameter is a duration back from now: `{TimeRange}` becomes the predicate
  `> ago(<duration>)` (used as `timestamp {TimeRange}`), `{TimeRange:start}` the range's
  start, `{TimeRange:end}` its end (`now()`), `{TimeRange:grain}` the time grain the portal
  picks for charts of that range, `{TimeRange:label}` its label ("Last 24 hours").
A parameter the query names but nobody set stays as it is, so duckdb-kql reports where it
stands in the query (`{Name}` is no KQL): the user sees which one is missing.
"""

from __future__ import annotations

import re
from collections.abc import Mapping
from dataclasses import dataclass

_DURATION = re.compile(r"^\s*(\d+(?:\.\d+)?)\s*(ms|s|m|h|d)\s*$")
_UNIT_MS = {"ms": 1, "s": 1_000, "m": 60_000, "h": 3_600_000, "d": 86_400_000}
_TOKEN = re.compile(r"\{([A-Za-z_][A-Za-z0-9_]*)(?::([A-Za-z]+))?\}")
# The grain the workbook's time charts use for a range (its "automatic" time brush: about a
# hundred points), as a KQL timespan.
_GRAINS = ((3_600_000, "1m"), (14_400_000, "5m"), (86_400_000, "15m"),
           (604_800_000, "1h"), (2_592_000_000, "6h"))


class ParameterError(ValueError):
    """A parameter value that cannot be used; `field` names the parameter."""

    def __init__(self, message: str, field: str) -> None:
        super().__init__(message)
        self.field = field


@dataclass(frozen=True)
class TimeRange:
    """A relative range: the last `duration_ms` milliseconds."""

    duration_ms: int

    @classmethod
    def parse(cls, text: str, name: str = "TimeRange") -> TimeRange:
        """`1h`, `30m`, `7d`, `90s`, `500ms`, or milliseconds as the workbook stores them
        (`{"durationMs": 86400000}`)."""
        match = _DURATION.match(text)
        if match:
            return cls(int(float(match.group(1)) * _UNIT_MS[match.group(2)]))
        if text.strip().isdigit():
            return cls(int(text.strip()))
        raise ParameterError(f"parameter {name}: {text!r} is not a duration such as 1h, 30m "
                             "or 7d", name)

    @property
    def kql(self) -> str:
        """The duration as a KQL timespan literal."""
        ms = self.duration_ms
        for unit in ("d", "h", "m", "s"):
            if ms % _UNIT_MS[unit] == 0:
                return f"{ms // _UNIT_MS[unit]}{unit}"
        return f"{ms}ms"

    @property
    def label(self) -> str:
        ms = self.duration_ms
        for unit, word in (("d", "day"), ("h", "hour"), ("m", "minute"), ("s", "second")):
            if ms % _UNIT_MS[unit] == 0:
                count = ms // _UNIT_MS[unit]
                return f"Last {count} {word}" if count == 1 else f"Last {count} {word}s"
        return f"Last {ms} ms"

    @property
    def grain(self) -> str:
        return next((grain for limit, grain in _GRAINS if self.duration_ms <= limit), "1d")

    def format(self, how: str | None) -> str:
        if how is None:
            return f"> ago({self.kql})"
        if how == "start":
            return f"ago({self.kql})"
        if how == "end":
            return "now()"
        if how == "grain":
            return self.grain
        if how == "label":
            return self.label
        if how == "value":
            return self.kql
        raise ParameterError(f"{{TimeRange:{how}}}: unknown format (start, end, grain, label "
                             "or value)", "TimeRange")


def escape(text: str) -> str:
    return text.replace("\\", "\\\\").replace('"', '\\"')


def substitute(query: str, values: Mapping[str, str | TimeRange]) -> str:
    """`query` with every `{Name}` / `{Name:format}` whose parameter has a value replaced."""
    def replace(match: re.Match[str]) -> str:
        name, how = match.group(1), match.group(2)
        if name not in values:
            return match.group(0)
        value = values[name]
        if isinstance(value, TimeRange):
            return value.format(how)
        if how == "escape":
            return escape(value)
        if how in (None, "label", "value"):
            return value
        raise ParameterError(f"{{{name}:{how}}}: unknown format (escape, label or value)", name)

    return _TOKEN.sub(replace, query)


def unset(query: str) -> list[str]:
    """The `{Name}` tokens left in a query after substitution (for the hint on a failure:
    a token can also be text inside a string literal, which is why it is only a hint)."""
    return sorted({m.group(1) for m in _TOKEN.finditer(query)})


def is_time_parameter(name: str) -> bool:
    """Without the workbook at hand, a time range parameter is known by its name, as the
    workbook names its own (`TimeRange`, `RequestsTimeRange`, ...)."""
    return name.endswith("TimeRange")


def parse_assignments(pairs: list[str]) -> dict[str, str | TimeRange]:
    """`--param NAME=VALUE` pairs: a time range parameter's value is a duration."""
    values: dict[str, str | TimeRange] = {}
    for pair in pairs:
        name, sep, value = pair.partition("=")
        if not sep or not re.fullmatch(r"[A-Za-z_][A-Za-z0-9_]*", name):
            raise ParameterError(f"--param {pair!r}: expected NAME=VALUE", "param")
        values[name] = TimeRange.parse(value, name) if is_time_parameter(name) else value
    return values
