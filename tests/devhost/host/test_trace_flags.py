"""What sampled flag the host puts in `context.trace_context` (the recipe's side — the app
keeps every run whatever the flag — is tests/test_sampled_flag.py).

The host hands the worker `Activity.Current?.Id` (azure-functions-host WorkerFunctionInvoker
.InvokeCore → ScriptInvocationContext.Traceparent; ScriptInvocationContextExtensions
.GetRpcTraceContext). A .NET Activity inherits its caller's trace flags (Activity.Create /
TrySetTraceFlagsFromParent) and the classic App Insights SDK never sets Recorded from its own
sampling, so the flag is the caller's, or 00 with no caller. Durable's V2 listener samples
AllData (DurableTelemetryModule.Initialize) and its activities keep their parent's flags, so
an activity gets the flag of whoever started the orchestration. The Activity has its own id
(a new span id under the caller's) whether or not an exporter records it.
"""

from __future__ import annotations

import time
from collections.abc import Iterator
from pathlib import Path

import pytest
from opentelemetry.sdk.trace import TracerProvider

from devhost.cli.start import host_server, load_app, stop_workers
from devhost.durable.engine import Engine, EngineOptions
from devhost.durable.store import Store
from devhost.durable.tracing import HostTracer
from devhost.host.server import BackgroundHost

from ..support import APPS, http

pytestmark = pytest.mark.host

API = "/runtime/webhooks/durabletask"
TRACE = "4bf92f3577b34da6a3ce929d0e0e4736"
CALLER_SPAN = "00f067aa0ba902b7"


@pytest.fixture(scope="module")
def host(tmp_path_factory: pytest.TempPathFactory) -> Iterator[str]:
    """The app in a worker process; Durable tracing V2 on, as host.json sets it."""
    index = load_app("trace_flags_app", APPS)
    engine = Engine(index, Store(Path(tmp_path_factory.mktemp("flags")) / "durable.sqlite"),
                    EngineOptions(tracing_v2=True),
                    tracer=HostTracer(enabled=True, provider=TracerProvider()))
    try:
        with BackgroundHost(host_server(index, engine, port=0)) as background:
            yield background.base_url
    finally:
        stop_workers(index)


def _fields(traceparent: str) -> tuple[str, str, str, str]:
    version, trace_id, span_id, flags = traceparent.split("-")
    return version, trace_id, span_id, flags


@pytest.mark.parametrize(("caller", "flag"), [
    (None, "00"),
    (f"00-{TRACE}-{CALLER_SPAN}-01", "01"),
    (f"00-{TRACE}-{CALLER_SPAN}-00", "00"),
])
def test_an_http_function_gets_the_callers_flag_or_00(host: str, caller: str | None,
                                                      flag: str) -> None:
    status, body, _ = http("GET", f"{host}/api/trace-context",
                           headers={"traceparent": caller} if caller else {})
    assert status == 200
    version, trace_id, span_id, seen = _fields(str(body))
    assert version == "00" and seen == flag
    assert (trace_id == TRACE) is bool(caller)  # the caller's trace, or a new one
    # The host's own Activity id, even with nothing recording it (no connection string here).
    assert int(trace_id, 16) and int(span_id, 16) and span_id != CALLER_SPAN


@pytest.mark.parametrize("flag", ["01", "00"])
def test_an_activity_gets_the_flag_the_orchestration_was_started_with(host: str,
                                                                      flag: str) -> None:
    caller = f"00-{TRACE}-{CALLER_SPAN}-{flag}"
    status, started, _ = http("POST", f"{host}{API}/orchestrators/trace_flags",
                              headers={"traceparent": caller})
    assert status == 202, started
    deadline = time.monotonic() + 30
    while (final := http("GET", started["statusQueryGetUri"])[1])["runtimeStatus"] in (
            "Pending", "Running"):
        assert time.monotonic() < deadline
        time.sleep(0.05)
    assert final["runtimeStatus"] == "Completed", final
    _, trace_id, span_id, seen = _fields(final["output"])
    assert trace_id == TRACE and span_id != CALLER_SPAN and seen == flag
