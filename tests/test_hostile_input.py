"""Hostile input against the starter over HTTP on devhost (property-based): never a 5xx,
always a JSON 4xx naming the problem for a rejected body, never an instance for it, and no
raw newline from input in any log line App Insights stores."""

from __future__ import annotations

import json
from typing import Any

from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from devhost.testing import DurableApp
from workflow import InputError, parse_workflow_input

STARTER = "/api/start-sub-orchestration"

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


def _expected(body: bytes) -> Any:
    try:
        return parse_workflow_input(body)
    except InputError as err:
        return err


@settings(max_examples=100, deadline=None,
          suppress_health_check=[HealthCheck.function_scoped_fixture, HealthCheck.too_slow])
@given(body=bodies)
def test_starter_never_fails_open(durable_app_module: DurableApp, body: bytes) -> None:
    app = durable_app_module
    before = len(app.instances())
    run = app.http("POST", STARTER, data=body)
    after = len(app.instances())
    reply = run.response
    assert reply is not None and reply.status < 500, reply
    expected = _expected(body)
    if isinstance(expected, InputError):
        assert reply.status == expected.status and 400 <= reply.status < 500
        assert reply.headers["Content-Type"].startswith("application/json")
        assert reply.json()["field"] == expected.field and reply.json()["error"]
        assert after == before
    else:
        assert reply.status == 202 and after >= before + 1
        # Let the run finish: its children are created while it runs (episodes run in the
        # worker, concurrently with this test), and the next example counts instances.
        assert run.wait().runtime_status == "Completed"


def test_header_injection_attempts_in_ids_are_refused(durable_app_module: DurableApp) -> None:
    for value in ("id\r\nSet-Cookie: x=1", "a\nb", "tab\there", "nul\x00"):
        reply = durable_app_module.http("POST", STARTER, json={"customer_id": value}).response
        assert reply is not None
        assert reply.status == 400 and reply.json()["field"] == "customer_id"
        assert "Set-Cookie" not in reply.headers


def test_no_stored_log_line_carries_a_raw_newline(durable_app_module: DurableApp) -> None:
    """Whatever ran before in this module, plus bodies built to smuggle CR/LF."""
    app = durable_app_module
    for body in ({"customer_id": "x\r\ny"}, {"skus": ["a\nb"]}, {"colour\n": "red"}, {}):
        app.http("POST", STARTER, json=body)
    messages = [row[0] for row in app.kql("traces | project message")]
    assert "Started parent workflow orchestration" in messages
    assert not any("\n" in m or "\r" in m for m in messages)
