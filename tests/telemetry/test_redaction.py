"""The screened redaction changes exactly what azure-functions-logging's filter changes."""

from __future__ import annotations

import logging
import re
from typing import Any

import azure_functions_logging as afl
from hypothesis import given, settings
from hypothesis import strategies as st

from telemetry._redaction import ScreenedRedactionFilter, screen_of
from telemetry.logs import SECRET_PATTERNS

FRAGMENTS = st.sampled_from([
    "Synced customer profile", "cust-1001", " ", "=", ":", ";", "{", "[", "\n",
    "password=hunter2", "Authorization: Bearer abc.def", "bearer xyz", "AccountKey=abc",
    "sig=zzz", "AKIAABCDEFGHIJKLMNOP", "ghp_" + "a" * 24, "eyJa.eyJb.sig",
    "InstrumentationKey=1111-2222", "IngestionEndpoint=https://x.invalid/", "token",
    '{"password": "x"}', '["a", {"apiKey": "k"}]', "client_secret : s3cr3t"])
TEXT = st.lists(FRAGMENTS, max_size=5).map("".join)
KEYS = st.sampled_from(["customer_id", "note", "password", "apiKey", "X-Functions-Key",
                        "token.raw", "partition.key", "tokenizer.name", "credential",
                        "app.durable.root_instance_id"])
VALUES = st.one_of(TEXT, st.integers(), st.none(), st.lists(TEXT, max_size=2),
                   st.dictionaries(KEYS, TEXT, max_size=2), st.tuples(TEXT))


def _filtered(fltr: logging.Filter, fields: dict[str, Any]) -> dict[str, Any]:
    record = logging.makeLogRecord(fields)
    assert fltr.filter(record)
    return {k: v for k, v in vars(record).items()
            if k not in ("created", "msecs", "relativeCreated", "thread", "process")}


@settings(max_examples=300, deadline=None)
@given(message=TEXT, extras=st.dictionaries(KEYS, VALUES, max_size=4))
def test_records_come_out_as_the_package_leaves_them(message: str,
                                                     extras: dict[str, Any]) -> None:
    fields = {"msg": message, **extras}
    assert (_filtered(ScreenedRedactionFilter(SECRET_PATTERNS), fields)
            == _filtered(afl.RedactionFilter(patterns=SECRET_PATTERNS), fields))


def test_exceptions_always_go_to_the_package() -> None:
    try:
        raise ValueError("password=hunter2")
    except ValueError as exc:
        record = logging.makeLogRecord({"msg": "failed", "exc_info": (type(exc), exc,
                                                                     exc.__traceback__)})
    ScreenedRedactionFilter(SECRET_PATTERNS).filter(record)
    assert "hunter2" not in getattr(record, "exception.message")


def test_the_screen_matches_wherever_a_pattern_does() -> None:
    screen = screen_of(SECRET_PATTERNS)
    assert screen is not None
    for text in ("password=x", "AccountKey=y", "Bearer t", "InstrumentationKey=k"):
        assert screen.search(text) and any(p.search(text) for p in SECRET_PATTERNS)
    assert not screen.search("Synced customer profile cust-1001")


def test_patterns_it_cannot_join_turn_the_screen_off() -> None:
    assert screen_of([re.compile("secret", re.IGNORECASE)]) is None
    assert screen_of([re.compile(r"(?P<q>['\"]).*(?P=q)")]) is None
    assert screen_of([re.compile(r"(['\"]).*\1")]) is None
    assert screen_of([re.compile(r"(b)?(?(1)KEY|tok)=\S+")]) is None  # a conditional
    assert screen_of([re.compile(r"a"), re.compile(r"(?u)secret=\S+")]) is None  # a late flag


def test_an_escaped_paren_stays_a_literal() -> None:
    pattern = re.compile(r"\(?P<x>=\S+")  # "(" optional, then the text "P<x>="
    screen = screen_of([pattern])
    assert screen is not None and screen.search("P<x>=1") and pattern.search("P<x>=1")


def test_a_message_that_cannot_render_goes_to_the_package() -> None:
    record = logging.makeLogRecord({"msg": "%d apples", "args": ("x",), "password": "p"})
    assert ScreenedRedactionFilter(SECRET_PATTERNS).filter(record)
    assert vars(record)["password"] != "p"


def test_fields_a_record_factory_adds_are_still_screened() -> None:
    previous = logging.getLogRecordFactory()

    def factory(*args: Any, **kwargs: Any) -> logging.LogRecord:
        record = previous(*args, **kwargs)
        record.otelSpanID = "0"  # what an instrumentation's factory adds
        return record

    logging.setLogRecordFactory(factory)
    try:
        import importlib

        import telemetry._redaction as module

        fresh = importlib.reload(module)
        record = logging.makeLogRecord({"msg": "m"})
        record.otelSpanID = "password=hunter2"
        fresh.ScreenedRedactionFilter(SECRET_PATTERNS).filter(record)
    finally:
        logging.setLogRecordFactory(previous)
        importlib.reload(module)
    assert "hunter2" not in str(vars(record)["otelSpanID"])
