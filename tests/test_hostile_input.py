"""Hostile input against the starter over HTTP on devhost (property-based): never a 5xx,
always a JSON 4xx naming the problem for a rejected body, never an instance for it, and no
raw newline from input in any log line."""

from __future__ import annotations

import json
import logging
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from devhost.server import BackgroundHost
from telemetry.logs import LOGGER_NAME
from tests.devhost.conftest import http
from workflow import InputError, parse_workflow_input

from .recipe import STARTER, recipe_host

text = st.text(alphabet=st.characters(codec="utf-8"), max_size=40)
json_values = st.recursive(
    st.none() | st.booleans() | st.integers() | st.floats(allow_nan=False) | text,
    lambda inner: st.lists(inner, max_size=4) | st.dictionaries(text, inner, max_size=4),
    max_leaves=20)
bodies = st.one_of(
    st.binary(max_size=300),
    json_values.map(lambda v: json.dumps(v).encode()),
    st.fixed_dictionaries({}, optional={
        "customer_id": json_values, "customer_segment": json_values,
        "skus": st.lists(json_values, max_size=5) | json_values,
        "extra": json_values}).map(lambda v: json.dumps(v).encode()),
    st.fixed_dictionaries({"customer_id": text, "customer_segment": text,
                           "skus": st.lists(text, max_size=5)}).map(
        lambda v: json.dumps(v).encode()),
)


class _Lines(logging.Handler):
    def __init__(self) -> None:
        super().__init__()
        self.messages: list[str] = []

    def emit(self, record: logging.LogRecord) -> None:
        self.messages.append(record.getMessage())


@pytest.fixture(scope="module")
def host(tmp_path_factory: pytest.TempPathFactory) -> Iterator[BackgroundHost]:
    with recipe_host(Path(tmp_path_factory.mktemp("hostile"))) as background:
        yield background


def _expected(body: bytes) -> Any:
    try:
        return parse_workflow_input(body)
    except InputError as err:
        return err


@settings(max_examples=150, deadline=None,
          suppress_health_check=[HealthCheck.function_scoped_fixture, HealthCheck.too_slow])
@given(body=bodies)
def test_starter_never_fails_open(host: BackgroundHost, body: bytes) -> None:
    store = host.server.engine.store
    lines = _Lines()
    logging.getLogger(LOGGER_NAME).addHandler(lines)
    try:
        before = len(store.query_instances())
        status, reply, headers = http("POST", host.base_url + STARTER, raw=body)
        after = len(store.query_instances())
    finally:
        logging.getLogger(LOGGER_NAME).removeHandler(lines)
    assert status < 500, reply
    expected = _expected(body)
    if isinstance(expected, InputError):
        assert status == expected.status and 400 <= status < 500
        assert headers["Content-Type"].startswith("application/json")
        assert reply["field"] == expected.field and reply["error"]
        assert after == before
    else:
        assert status == 202 and after >= before + 1
    assert not any("\n" in m or "\r" in m for m in lines.messages)


def test_header_injection_attempts_in_ids_are_refused(host: BackgroundHost) -> None:
    for value in ("id\r\nSet-Cookie: x=1", "a\nb", "tab\there", "nul\x00"):
        status, reply, headers = http("POST", host.base_url + STARTER,
                                      body={"customer_id": value})
        assert status == 400 and reply["field"] == "customer_id"
        assert "Set-Cookie" not in headers
