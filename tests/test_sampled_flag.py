"""What sampled flag the host puts in `context.trace_context`, and what the app does with it.

The host hands the worker `Activity.Current?.Id` (azure-functions-host WorkerFunctionInvoker
.InvokeCore → ScriptInvocationContext.Traceparent; ScriptInvocationContextExtensions
.GetRpcTraceContext). A .NET Activity inherits its caller's trace flags (Activity.Create /
TrySetTraceFlagsFromParent) and the classic App Insights SDK never sets Recorded from its own
sampling, so the flag is the caller's, or 00 with no caller. Durable's V2 listener samples
AllData (DurableTelemetryModule.Initialize), so activities get the starter's flag back.
The app must not obey that flag: it would drop every span of a run.
"""

from __future__ import annotations

import time
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path

import pytest
from opentelemetry import trace
from opentelemetry.sdk._logs.export import InMemoryLogRecordExporter
from opentelemetry.sdk.trace.export.in_memory_span_exporter import InMemorySpanExporter

import telemetry
from devhost.durable.engine import Engine, EngineOptions
from devhost.durable.store import Store
from devhost.durable.tracing import HostTracer
from devhost.runtime import load_app
from devhost.server import BackgroundHost, HostServer
from tests.devhost.conftest import http

REPO = Path(__file__).resolve().parents[1]
STARTER = "/api/start-sub-orchestration"
TRACE = "4bf92f3577b34da6a3ce929d0e0e4736"
_SPANS = InMemorySpanExporter()
_LOGS = InMemoryLogRecordExporter()


@pytest.fixture(scope="module")
def host(tmp_path_factory: pytest.TempPathFactory) -> Iterator[BackgroundHost]:
    """The recipe in this process, so the flags the app's spans saw can be read: the app's
    telemetry into in-memory exporters, Durable tracing V2 on (as host.json sets it) into the
    same provider."""
    index = load_app("function_app", REPO, worker_processes=False)
    telemetry.configure(span_exporter=_SPANS, log_exporter=_LOGS)
    engine = Engine(index, Store(Path(tmp_path_factory.mktemp("flag")) / "durable.sqlite"),
                    EngineOptions(tracing_v2=True),
                    tracer=HostTracer(enabled=True, provider=trace.get_tracer_provider()))
    with BackgroundHost(HostServer(index, engine, port=0)) as background:
        yield background


@contextmanager
def captured() -> Iterator[tuple[InMemorySpanExporter, InMemoryLogRecordExporter]]:
    _SPANS.clear()
    _LOGS.clear()
    yield _SPANS, _LOGS


def _run(host: BackgroundHost, traceparent: str | None) -> str:
    headers = {"traceparent": traceparent} if traceparent else {}
    status, started, _ = http("POST", host.base_url + STARTER, headers=headers)
    assert status == 202, started
    deadline = time.monotonic() + 20
    while True:
        _, final, _ = http("GET", started["statusQueryGetUri"])
        if final["runtimeStatus"] not in ("Pending", "Running"):
            return str(started["id"])
        assert time.monotonic() < deadline
        time.sleep(0.02)


@pytest.mark.parametrize(("traceparent", "sampled"), [
    (None, False),
    (f"00-{TRACE}-00f067aa0ba902b7-01", True),
    (f"00-{TRACE}-00f067aa0ba902b7-00", False),
])
def test_http_trigger_gets_the_callers_flag_or_00_and_the_run_is_kept_whole(
        host: BackgroundHost, traceparent: str | None, sampled: bool) -> None:
    with captured() as (spans, logs):
        _run(host, traceparent)
    finished = spans.get_finished_spans()
    names = {s.name for s in finished}
    starter = next(s for s in finished
                   if s.name == "start_orchestration:parent_workflow_orchestrator")
    # The flag the host handed the starter in context.trace_context:
    assert starter.parent is not None and starter.parent.trace_flags.sampled is sampled
    # … and the app still records the whole run (telemetry.config.run_sampler decides by
    # trace id, never by a remote parent's flag):
    assert {"run_activity:sync_customer_profile", "run_activity:build_inventory_snapshot",
            "orchestration:parent_workflow_orchestrator"} <= names
    assert len({s.context.trace_id for s in finished}) == 1
    if traceparent:
        assert f"{starter.context.trace_id:032x}" == TRACE
    messages = {r.log_record.body for r in logs.get_finished_logs()}
    assert {"Synced customer profile", "Built inventory snapshot"} <= messages
    # Activities get the starter's own flag back through the V2 tree (its span is sampled).
    activity = next(s for s in finished if s.name == "run_activity:sync_customer_profile")
    assert activity.parent is not None and activity.parent.trace_flags.sampled
