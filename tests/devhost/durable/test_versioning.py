"""Orchestration versioning and overridableExistingInstanceStates as extension 3.x applies
host.json (bundle 4.26+), driven through the real SDK (azure-functions-durable 1.7.0:
`start_new(version=)` sends `?version=`, `call_sub_orchestrator(version=)` puts `version` on
the action, `context.version` reads ExecutionStarted's Version). The app's `versioned` is
Microsoft's orchestration_versioning sample (azure-functions-durable-python samples-v2).
Sources: DurableTask.Core `TaskOrchestrationDispatcher` (versioning check, ContinueAsNew's
`NewVersion ?? runtimeState.Version`) and `FailureDetails.ToString` at Azure/durabletask
5217032; DurableTask.AzureStorage `AzureTableTrackingStore` (a failure's Output); the
extension's release notes for #3095 (3.3.0) and #3316. Every engine here shares the session's
worker (no process starts)."""

from __future__ import annotations

import asyncio
import logging
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
from opentelemetry.sdk.trace import TracerProvider
from opentelemetry.sdk.trace.export import SimpleSpanProcessor
from opentelemetry.sdk.trace.export.in_memory_span_exporter import InMemorySpanExporter
from opentelemetry.sdk.trace.sampling import ALWAYS_ON
from opentelemetry.trace import SpanKind

from devhost.cli.start import host_server
from devhost.durable.dispatcher import EngineOptions
from devhost.durable.engine import Conflict, Engine
from devhost.durable.store import Store
from devhost.durable.tracing import HostTracer
from devhost.durable.versioning import Versioning
from devhost.host.app import AppIndex
from devhost.host.server import BackgroundHost

from ..support import http
from .support import drive

pytestmark = pytest.mark.host


def _engine(index: AppIndex, path: Path, versioning: Versioning | None = None,
            any_state: bool = False) -> Engine:
    return Engine(index, Store(path / "durable.sqlite"),
                  EngineOptions(versioning=versioning or Versioning(),
                                override_any_state=any_state))


async def _end(engine: Engine, iid: str) -> dict[str, Any]:
    await engine.wait(iid, 20)
    status = engine.status(iid)
    assert status is not None
    return status


@pytest.fixture()
def v1_host(semantics_index: AppIndex, tmp_path: Path) -> Iterator[BackgroundHost]:
    """The sample's host.json (`defaultVersion: "1.0"`), on the session's worker."""
    engine = _engine(semantics_index, tmp_path, Versioning("1.0"))
    with BackgroundHost(host_server(semantics_index, engine, port=0)) as background:
        yield background
    engine.store.close()


def test_the_samples_versions_through_the_sdk_client(v1_host: BackgroundHost) -> None:
    """defaultVersion stamps new instances and sub-orchestrations started without a version;
    the client's and the action's version win; the orchestrator branches on context.version."""
    base = f"{v1_host.base_url}/api/client"
    _, started, _ = http("POST", f"{base}/start", {"name": "versioned", "id": "v-default"})
    _, older, _ = http("POST", f"{base}/start", {"name": "versioned", "id": "v-old",
                                                  "version": "0.5"})
    assert (started["result"], older["result"]) == ("v-default", "v-old")
    for iid, expected in (("v-default", ["1.0", "legacy", "0.9", "1.0"]),
                          ("v-old", ["0.5", "new", "0.9", "1.0"])):
        status, body, _ = http("POST", f"{base}/wait", {"id": iid})
        assert (status, body) == (200, expected), iid


def test_fail_ends_a_newer_instance_with_version_mismatch(semantics_index: AppIndex,
                                                          tmp_path: Path) -> None:
    """versionFailureStrategy Fail: the orchestrator never runs; the instance is Failed and its
    output is FailureDetails.ToString(), "VersionMismatch: ..."."""
    engine = _engine(semantics_index, tmp_path, Versioning("1.0", "Strict", "Fail"))

    async def body(e: Engine) -> tuple[dict[str, Any], dict[str, Any]]:
        newer = await _end(e, e.start_new("versioned_child", "strict-new", None, version="2.0"))
        return newer, await _end(e, e.start_new("versioned_child", "strict-ok", None))

    newer, same = drive(engine, body)
    assert newer["runtimeStatus"] == "Failed"
    assert newer["output"] == ("VersionMismatch: Orchestration version did not comply with "
                               "Worker Versioning")
    assert (same["runtimeStatus"], same["output"]) == ("Completed", "1.0")
    engine.store.close()


def test_reject_leaves_a_newer_instance_pending_until_a_newer_host_runs_it(
        semantics_index: AppIndex, tmp_path: Path, caplog: pytest.LogCaptureFixture) -> None:
    """versionFailureStrategy Reject (the default): the work item is abandoned, the instance
    stays Pending with its messages; a host whose defaultVersion accepts it (the sample's
    "deploy 2.0" step) runs it, and its children get the new defaultVersion."""
    old = _engine(semantics_index, tmp_path, Versioning("1.0"))

    async def reject(e: Engine) -> dict[str, Any] | None:
        e.start_new("versioned", "from-2", None, version="2.0")
        for _ in range(2000):
            if any("rejected" in r.getMessage() for r in caplog.records):
                break
            await asyncio.sleep(0.005)
        return e.status("from-2")

    with caplog.at_level(logging.WARNING, logger="devhost.durable"):
        waiting = drive(old, reject)
    assert waiting is not None and waiting["runtimeStatus"] == "Pending"
    old.store.close()
    new = _engine(semantics_index, tmp_path, Versioning("2.0"))
    done = drive(new, lambda e: _end(e, "from-2"))
    assert (done["runtimeStatus"], done["output"]) == ("Completed", ["2.0", "new", "0.9", "2.0"])
    new.store.close()


def test_continue_as_new_keeps_the_version(semantics_index: AppIndex, tmp_path: Path) -> None:
    engine = _engine(semantics_index, tmp_path, Versioning("1.0"))
    status = drive(engine, lambda e: _end(e, e.start_new("continued_twice", "can", "0",
                                                         version="0.7")))
    assert (status["runtimeStatus"], status["output"]) == ("Completed", "0.7")
    engine.store.close()


def test_any_state_lets_a_start_replace_a_running_instance(semantics_index: AppIndex,
                                                           tmp_path: Path) -> None:
    """overridableExistingInstanceStates: with the default NonRunningStates a start onto a
    running id is refused (409 over HTTP); with AnyState the dedupe statuses are empty and
    the new instance replaces the running one."""
    (tmp_path / "strict").mkdir()
    strict = _engine(semantics_index, tmp_path / "strict")

    async def refused(e: Engine) -> None:
        e.start_new("approval", "any-1", None)
        with pytest.raises(Conflict):
            e.start_new("approval", "any-1", "2")

    drive(strict, refused)
    strict.store.close()
    engine = _engine(semantics_index, tmp_path, any_state=True)

    async def body(e: Engine) -> tuple[dict[str, Any] | None, dict[str, Any]]:
        e.start_new("approval", "any-1", None)
        for _ in range(2000):
            if (s := e.status("any-1")) and s["runtimeStatus"] == "Running":
                break
            await asyncio.sleep(0.005)
        first = e.status("any-1")
        e.start_new("approval", "any-1", "2")
        e.raise_event("any-1", "Approval", '"ok"')
        return first, await _end(e, "any-1")

    first, replaced = drive(engine, body)
    assert first is not None and first["input"] is None
    assert (replaced["runtimeStatus"], replaced["input"], replaced["output"]) == (
        "Completed", 2, {"approved": "ok"})
    engine.store.close()


def test_v2_spans_carry_the_version(semantics_index: AppIndex, tmp_path: Path) -> None:
    """TraceHelper.CreateSpanName `<kind>:<name>@(<version>)` and the durabletask.task.version
    tag on create_orchestration (StartActivityForNewOrchestration), the orchestration SERVER
    span (StartTraceActivityForOrchestrationExecution) and a sub-orchestration's CLIENT span
    (CreateTraceActivityForSchedulingSubOrchestration), Azure/durabletask 5217032."""
    exporter = InMemorySpanExporter()
    provider = TracerProvider(sampler=ALWAYS_ON)
    provider.add_span_processor(SimpleSpanProcessor(exporter))
    engine = Engine(semantics_index, Store(tmp_path / "durable.sqlite"),
                    EngineOptions(tracing_v2=True, versioning=Versioning("1.0")),
                    tracer=HostTracer(enabled=True, provider=provider))
    drive(engine, lambda e: _end(e, e.start_new("versioned", "traced", None, version="0.5")))
    engine.store.close()
    spans = {(s.name, s.kind): dict(s.attributes or {}) for s in exporter.get_finished_spans()}
    assert spans[("create_orchestration:versioned@(0.5)", SpanKind.PRODUCER)][
        "durabletask.task.version"] == "0.5"
    assert spans[("orchestration:versioned@(0.5)", SpanKind.SERVER)][
        "durabletask.task.version"] == "0.5"
    for version in ("0.9", "1.0"):
        assert spans[(f"orchestration:versioned_child@({version})", SpanKind.CLIENT)][
            "durabletask.task.version"] == version
        assert (f"orchestration:versioned_child@({version})", SpanKind.SERVER) in spans
