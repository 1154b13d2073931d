"""A caller's W3C `traceparent`, read with the standard library only.

The host takes a caller's `traceparent` (an HTTP trigger's request, the Durable management
API's create and raise-event calls) the way OpenTelemetry's propagator reads it:
`TraceContextTextMapPropagator.extract` (opentelemetry-api 1.45,
`opentelemetry/trace/propagation/tracecontext.py`), which implements W3C Trace Context
Level 1 §3.2. The rules below are that method's, line for line: at most 512 characters, its
regular expression (lowercase hex, blanks around the header, anything after a fourth field
only for versions above 00), no all-zero trace or span id, version `ff` refused.

Why not call the propagator: `devhost.testing` needs this too, and the pytest plugin is loaded
by every pytest session of every project that installs devhost, so it must not import
OpenTelemetry (nor anything of devhost that loads the SDK or the exporter).
`tests/devhost/host/test_tracecontext.py` holds the two to the same answers.
"""

from __future__ import annotations

import re
from typing import NamedTuple

MAX_LENGTH = 512  # TraceContextTextMapPropagator._TRACEPARENT_MAXIMUM_LENGTH
_FORMAT = re.compile(r"^[ \t]*([0-9a-f]{2})-([0-9a-f]{32})-([0-9a-f]{16})-([0-9a-f]{2})"
                     r"(?:(-.*)|[ \t]*)$")
_INVALID_TRACE_ID = "0" * 32
_INVALID_SPAN_ID = "0" * 16
_SAMPLED = 0x01  # W3C trace-flags: the sampled bit


class ParsedTraceparent(NamedTuple):
    """The ids a valid `traceparent` names (lowercase hex) and its sampled flag."""

    trace_id: str
    span_id: str
    sampled: bool


def parse_traceparent(header: str | None) -> ParsedTraceparent | None:
    """The context `header` names, or None where the propagator would extract none."""
    if not header or len(header) > MAX_LENGTH:
        return None
    match = _FORMAT.search(header)
    if not match:
        return None
    version, trace_id, span_id, flags, rest = match.groups()
    if trace_id == _INVALID_TRACE_ID or span_id == _INVALID_SPAN_ID:
        return None
    if (version == "00" and rest) or version == "ff":
        return None
    return ParsedTraceparent(trace_id, span_id, bool(int(flags, 16) & _SAMPLED))
