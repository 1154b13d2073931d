"""The correlation record carried inside every orchestration and activity input.

Inputs are recorded in the orchestration history, so the record is replayed with exactly the
values it had the first time: orchestrators can pass it on without emitting anything and
without reading anything non-deterministic.

Named for what it holds (the run's instance ids and W3C context), not "envelope": that is
Application Insights' word for the items its exporter posts (devhost/insights/envelopes.py),
a different thing in the same traces. On the wire it is the `correlation` key beside
`payload`, unchanged, so recorded histories still replay.
"""

from __future__ import annotations

from dataclasses import asdict, dataclass, field, replace
from typing import Any

from . import attributes as attr

CORRELATION_KEY = "correlation"
PAYLOAD_KEY = "payload"


class CorrelationError(ValueError):
    """An input claimed to carry a correlation record but it is malformed."""


@dataclass(frozen=True)
class Correlation:
    root_instance_id: str
    parent_instance_id: str  # "" at the root
    instance_id: str
    orchestration_name: str
    activity_name: str = ""
    trace: dict[str, str] = field(default_factory=dict)  # W3C traceparent/tracestate carrier

    def child(self, instance_id: str, orchestration_name: str) -> Correlation:
        """The record for a sub-orchestration started by this orchestration."""
        return replace(self, parent_instance_id=self.instance_id, instance_id=instance_id,
                       orchestration_name=orchestration_name, activity_name="")

    def for_activity(self, activity_name: str) -> Correlation:
        return replace(self, activity_name=activity_name)

    def to_dict(self) -> dict[str, Any]:
        return asdict(self)

    @classmethod
    def from_dict(cls, data: Any) -> Correlation:
        if not isinstance(data, dict):
            raise CorrelationError(f"'{CORRELATION_KEY}' must be an object")
        strings = ("root_instance_id", "parent_instance_id", "instance_id",
                   "orchestration_name", "activity_name")
        for key in strings:
            if not isinstance(data.get(key, ""), str):
                raise CorrelationError(f"'{CORRELATION_KEY}.{key}' must be a string")
        trace = data.get("trace", {})
        if not isinstance(trace, dict) or not all(
                isinstance(k, str) and isinstance(v, str) for k, v in trace.items()):
            raise CorrelationError(f"'{CORRELATION_KEY}.trace' must map strings to strings")
        # Keys this version does not know are ignored, not refused: a record written by a
        # newer deploy is still replayed, and run, by this one after a rollback.
        if not data.get("root_instance_id") or not data.get("instance_id"):
            raise CorrelationError(f"'{CORRELATION_KEY}' needs root_instance_id and instance_id")
        return cls(**{k: data[k] for k in strings if k in data}, trace=dict(trace))

    def attributes(self) -> dict[str, str]:
        """Span and log attributes for code running under this record."""
        return {attr.ROOT_INSTANCE_ID: self.root_instance_id,
                attr.PARENT_INSTANCE_ID: self.parent_instance_id,
                attr.ORCHESTRATION_NAME: self.orchestration_name}


def wrap(correlation: Correlation, payload: Any) -> dict[str, Any]:
    return {CORRELATION_KEY: correlation.to_dict(), PAYLOAD_KEY: payload}


def unwrap(value: Any) -> tuple[Correlation | None, Any]:
    """Split an input into (correlation, payload); inputs without a record pass through."""
    if isinstance(value, dict) and CORRELATION_KEY in value:
        # Keys beside it that this version does not know are ignored, as inside it.
        return Correlation.from_dict(value[CORRELATION_KEY]), value.get(PAYLOAD_KEY)
    return None, value
