"""devhost's standard-library reading of `traceparent` answers as OpenTelemetry's propagator
does (the rules it copies, devhost/host/tracecontext.py), header by header."""

from __future__ import annotations

import pytest
from opentelemetry import trace
from opentelemetry.trace.propagation.tracecontext import TraceContextTextMapPropagator

from devhost.durable.tracing import TraceParent
from devhost.host.tracecontext import ParsedTraceparent, parse_traceparent

TRACE = "0af7651916cd43dd8448eb211c80319c"
SPAN = "b7ad6b7169203331"
LONGEST = f"01-{TRACE}-{SPAN}-01-" + "x" * 456  # 512 characters: the propagator's limit
HEADERS = [
    f"00-{TRACE}-{SPAN}-01",
    f"00-{TRACE}-{SPAN}-00",
    f"00-{TRACE}-{SPAN}-03",  # another flag beside sampled
    f"00-{TRACE}-{SPAN}-02",
    f" \t00-{TRACE}-{SPAN}-01 \t",  # blanks around (optional whitespace, RFC 9110)
    f"00-{TRACE}-{SPAN}-01\n",  # `$` matches before a final newline
    f"00-{TRACE}-{SPAN}-01-extra",  # version 00 has exactly four fields
    f"01-{TRACE}-{SPAN}-01-extra",  # a later version may add fields
    f"01-{TRACE}-{SPAN}-01",
    f"ff-{TRACE}-{SPAN}-01",  # version ff is invalid
    f"fe-{TRACE}-{SPAN}-01",
    f"00-{'0' * 32}-{SPAN}-01",  # all-zero trace id
    f"00-{TRACE}-{'0' * 16}-01",  # all-zero span id
    f"00-{TRACE.upper()}-{SPAN}-01",  # uppercase hex is not W3C
    f"00-{TRACE[:-1]}-{SPAN}-01",
    f"00-{TRACE}-{SPAN}-1",
    f"00_{TRACE}_{SPAN}_01",
    f"0-{TRACE}-{SPAN}-01",
    f"00-{TRACE}-{SPAN}-0g",
    LONGEST,
    LONGEST + "x",  # over the limit
    "", " ", "garbage", "00",
]


def propagator(header: str) -> ParsedTraceparent | None:
    context = TraceContextTextMapPropagator().extract({"traceparent": header})
    span = trace.get_current_span(context).get_span_context()
    if not span.is_valid:
        return None
    return ParsedTraceparent(f"{span.trace_id:032x}", f"{span.span_id:016x}",
                             span.trace_flags.sampled)


@pytest.mark.parametrize("header", HEADERS)
def test_parsing_agrees_with_the_propagator(header: str) -> None:
    assert parse_traceparent(header) == propagator(header)


def test_the_table_has_both_answers() -> None:
    answers = [parse_traceparent(h) for h in HEADERS]
    assert len([a for a in answers if a is None]) > 5
    assert {a.sampled for a in answers if a is not None} == {True, False}
    assert len(LONGEST) == 512 and parse_traceparent(LONGEST) is not None


def test_the_durable_store_keeps_the_callers_tracestate() -> None:
    parsed = TraceParent.parse(f"00-{TRACE}-{SPAN}-00", "congo=t61rcWkgMzE")
    assert parsed == TraceParent(TRACE, SPAN, False, "congo=t61rcWkgMzE")
    assert parsed.header == f"00-{TRACE}-{SPAN}-00"
    assert TraceParent.parse(None) is None and TraceParent.parse("") is None
