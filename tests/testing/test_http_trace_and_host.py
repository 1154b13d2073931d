"""`durable_app.http` and a caller's `traceparent`; the plugin host's routes on bad input;
the loopback rule for telemetry settings."""

from __future__ import annotations

import secrets
from pathlib import Path

import pytest

from devhost.testing import DevhostError, DurableApp
from devhost.testing.app import caller_trace_id
from devhost.testing.process import HostProcess, HostSpec, request

pytestmark = pytest.mark.durable_app(module="replay_app", app_dir="tests/testing")
TRACE = "4bf92f3577b34da6a3ce929d0e0e4736"
SPAN = "00f067aa0ba902b7"


@pytest.fixture
def durable_app(durable_app_module: DurableApp) -> DurableApp:
    """One devhost for the whole module (durable_app_module): its settings are the same for
    every test, and each test reads only its own runs' rows."""
    return durable_app_module


@pytest.mark.parametrize(("traceparent", "trace_id"), [
    (f"00-{TRACE}-{SPAN}-01", TRACE),
    (f"00-{TRACE}-{SPAN}-00", TRACE),
    (f"01-{TRACE}-{SPAN}-01-later-fields", TRACE),  # a later version may add fields
    (f"00-{TRACE}-{SPAN}-01-more", None),  # version 00 has exactly four
    (f"ff-{TRACE}-{SPAN}-01", None),  # version ff is invalid
    (f"00-{'0' * 32}-{SPAN}-01", None),  # all-zero trace id
    (f"00-{TRACE}-{'0' * 16}-01", None),  # all-zero parent id
    (f"00-{TRACE.upper()}-{SPAN}-01", None),  # lowercase hex only
    (f"00-{TRACE[:-1]}-{SPAN}-01", None),
    ("a-b-c-d", None),
    ("", None),
])
def test_only_a_w3c_traceparent_names_the_callers_trace(traceparent: str,
                                                        trace_id: str | None) -> None:
    """W3C Trace Context, traceparent header: version-traceid-parentid-flags."""
    assert caller_trace_id(traceparent) == trace_id


def test_an_invalid_traceparent_is_sent_as_given_and_names_no_trace(
        durable_app: DurableApp) -> None:
    valid = f"00-{secrets.token_hex(16)}-{SPAN}-01"
    first = durable_app.http("GET", "/api/echo", headers={"traceparent": valid})
    assert first.response is not None and first.response.text == valid
    assert {s.operation_id for s in first.spans()} == {valid.split("-")[1]}

    # The same trace id with a zero parent id is no trace context: the host starts a trace
    # of its own, and the first call's rows are not this run's.
    invalid = f"00-{valid.split('-')[1]}-{'0' * 16}-01"
    second = durable_app.http("GET", "/api/echo", headers={"traceparent": invalid})
    assert second.response is not None and second.response.text == invalid
    assert second.spans() == []


def test_the_hosts_routes_answer_400_for_a_body_that_is_not_json(
        durable_app: DurableApp) -> None:
    for route in ("kql", "replay"):
        reply = request("POST", f"{durable_app.base_url}/_devhost/testing/{route}", b"{nope",
                        {"Content-Type": "application/json"})
        assert (reply.status, reply.json()) == (400, {"error": "body must be JSON",
                                                      "field": "body"})


def test_history_of_an_unknown_instance_is_a_404(durable_app: DurableApp) -> None:
    with pytest.raises(DevhostError, match=r"no instance with id 'nope' .*HTTP 404"):
        durable_app.run("nope").history(raw=True)


def test_rows_of_an_unknown_instance_are_an_error_not_an_empty_list(
        durable_app: DurableApp) -> None:
    """A typo in `durable_app.run(id)` must not pass as "no spans"."""
    with pytest.raises(DevhostError, match="no instance with id 'no-such-run'"):
        durable_app.run("no-such-run").spans()


@pytest.mark.parametrize("endpoint", ["http://127.0.0.1:9/", "http://localhost:9/",
                                      "http://[::1]:9/"])
def test_every_loopback_address_the_message_names_is_accepted(tmp_path: Path,
                                                              endpoint: str) -> None:
    process = HostProcess(HostSpec(tmp_path, settings={"OTEL_EXPORTER_OTLP_ENDPOINT": endpoint}),
                          tmp_path / ".devhost")
    assert process._env()["OTEL_EXPORTER_OTLP_ENDPOINT"] == endpoint
    refused = HostProcess(HostSpec(tmp_path, settings={
        "OTEL_EXPORTER_OTLP_ENDPOINT": "http://collector.example:4318"}), tmp_path / ".devhost")
    with pytest.raises(DevhostError, match=r"may point only at loopback \(127\.0\.0\.1, "
                       r"localhost, ::1\)"):
        refused._env()


@pytest.mark.parametrize(("connection_string", "refusal"), [
    ("InstrumentationKey=k;IngestionEndpoint=http://127.0.0.2:9/", None),
    ("InstrumentationKey=k;ingestionendpoint=http://LOCALHOST:9/", None),
    # The exporter ignores a key with a blank: this one would post to Azure's default.
    ("InstrumentationKey=k; IngestionEndpoint=http://127.0.0.1:9/", "may point only at loopback"),
    ("InstrumentationKey=k;IngestionEndpoint=http://127.example.com/", "only at loopback"),
    ("InstrumentationKey=k;IngestionEndpoint=http://127.0.0.1:9/;", "not a connection string"),
])
def test_a_connection_string_is_judged_by_where_the_exporter_posts(
        tmp_path: Path, connection_string: str, refusal: str | None) -> None:
    process = HostProcess(HostSpec(tmp_path, settings={
        "APPLICATIONINSIGHTS_CONNECTION_STRING": connection_string}), tmp_path / ".devhost")
    if refusal is None:
        assert process._env()["APPLICATIONINSIGHTS_CONNECTION_STRING"] == connection_string
    else:
        with pytest.raises(DevhostError, match=refusal):
            process._env()
