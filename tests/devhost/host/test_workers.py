"""The worker process: Microsoft's runtime indexes and invokes; devhost is the host side.
The worker protocol as the Functions host speaks it, checked from what the worker process
receives: two workers started one after another and served round robin, WorkerInitRequest's
capabilities, InvocationRequest's trigger_metadata and trace_context.attributes.

Sources: azure-functions-runtime 1.3.0 (functions.py Registry.add_indexed_function validates
parameters against bindings at indexing; handle_event.py worker_init_request returns its
failure). azure-functions-host v4.1036.3 (23a9840e):
- GrpcWorkerChannel.cs: a worker that exits is restarted; SendWorkerInitRequest's
  capabilities (MultiStream = 10);
- RpcFunctionInvocationDispatcherLoadBalancer.cs GetLanguageWorkerChannel: round robin over
  the initialized channels;
- RpcFunctionInvocationDispatcher.cs StartWorkerProcesses: one worker at a time, waiting
  WorkerProcessCountOptions.ProcessStartupInterval (10 s) after each is initialized;
- ScriptInvocationContextExtensions.cs ToRpcInvocationRequest: binding data →
  trigger_metadata, the Activity's tags → trace_context.attributes.
Trigger binding data: azure-webjobs-sdk-extensions 2e7550f7 HttpTriggerAttributeBinding
Provider.cs; azure-functions-durable-extension v3.x 92fecfc6 ActivityTriggerAttributeBinding
Provider.cs. The Activity's tags: Microsoft.ApplicationInsights 2.22.0 TelemetryClient
Extensions.StartOperation (`OperationName`), the operation the WebJobs
ApplicationInsightsLogger starts for a trigger without an Activity of its own.
"""

from __future__ import annotations

import asyncio
import json
import os
import signal
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import pytest

from devhost.cli.start import host_server, load_app
from devhost.durable.engine import Engine
from devhost.durable.store import Store
from devhost.host.app import AppIndex
from devhost.host.metadata import AppLoadError
from devhost.host.processes import STARTUP_INTERVAL_SETTING, ProcessWorkers
from devhost.host.server import BackgroundHost

from ..support import engine_of, http, until

pytestmark = pytest.mark.host

APPS = Path(__file__).resolve().parents[1] / "apps"
INTERVAL = 0.1  # seconds between worker starts: short for the tests; the host's is 10


def load_two(interval: float = INTERVAL) -> AppIndex:
    """The semantics app on two worker processes, the second started `interval` after the
    first is ready; returns once both are ready."""
    previous = os.environ.get(STARTUP_INTERVAL_SETTING)
    os.environ[STARTUP_INTERVAL_SETTING] = str(interval)
    try:
        index = load_app("semantics_app", APPS, count=2)
    finally:
        if previous is None:
            os.environ.pop(STARTUP_INTERVAL_SETTING, None)
        else:
            os.environ[STARTUP_INTERVAL_SETTING] = previous
    until(lambda: len(pool(index).pids) == 2, 30)
    return index


def pool(index: AppIndex) -> ProcessWorkers:
    assert isinstance(index.workers, ProcessWorkers)
    return index.workers


@dataclass
class Pair:
    host: BackgroundHost
    workers: ProcessWorkers
    starts: list[tuple[float, float | None]]  # as they were before any test killed one


@pytest.fixture(scope="module")
def pair(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Pair]:
    """The semantics app on two worker processes behind a background host, shared by the
    tests that need two workers and leave them running (a killed one is replaced)."""
    os.environ.setdefault("SEMANTICS_ATTEMPTS_DIR", str(tmp_path_factory.mktemp("attempts")))
    index = load_two()
    store = Store(Path(tmp_path_factory.mktemp("store")) / "durable.sqlite")
    try:
        with BackgroundHost(host_server(index, Engine(index, store), port=0)) as background:
            yield Pair(background, pool(index), pool(index).starts())
    finally:
        index.workers.stop()


def both_ready(pair: Pair) -> list[int]:
    return list(until(lambda: len(pair.workers.pids) == 2 and pair.workers.pids, 30))


def probe(pair: Pair, path: str, **kwargs: Any) -> dict[str, Any]:
    status, body, _ = http(kwargs.pop("method", "GET"), pair.host.base_url + path, **kwargs)
    assert status == 200, body
    return dict(body)


async def run(engine: Engine, name: str, input_json: str) -> str:
    iid = engine.start_new(name, None, input_json)
    await engine.wait(iid, 60)
    return iid


def test_a_parameter_that_matches_no_binding_is_refused_at_load() -> None:
    """Registry.validate_function_params: the runtime's own message, from the worker."""
    with pytest.raises(AppLoadError) as caught:
        load_app("function_app", APPS / "mismatch")
    assert "hello" in str(caught.value) and "request" in str(caught.value)


@pytest.mark.parametrize(("app", "message"), [
    # loader.py index_function_app
    ("two_registries", "More than one FunctionApp or other top level function app instances"),
    # functions.py Registry.validate_function_params (a trigger annotation its converter
    # cannot produce; str/bytes would pass, as the runtime treats them as 'generic')
    ("wrong_annotation", "do not match the corresponding function parameter's Python type "
                         "annotation int"),
    # handle_event.py load_function_metadata: only PYTHON_SCRIPT_FILE_NAME is indexed
    ("no_script_file", "No job functions found"),
])
def test_what_the_worker_refuses_at_load(app: str, message: str) -> None:
    with pytest.raises(AppLoadError) as caught:
        load_app("function_app", APPS / app)
    assert message in str(caught.value)


def test_the_app_runs_in_another_process_with_the_runtime_version() -> None:
    index = load_app("semantics_app", APPS)
    try:
        assert index.runtime_version == "1.3.0"
        pids = index.workers.pids  # type: ignore[attr-defined]
        assert pids and os.getpid() not in pids
    finally:
        index.workers.stop()


def test_a_worker_killed_mid_run_is_replaced_and_the_run_completes(
        tmp_path: Path, caplog: pytest.LogCaptureFixture) -> None:
    """SIGKILL while activities (0.1 s naps) are in flight on it: the engine delivers what
    the dead worker held again (at least once) and the run completes with the right sum."""
    os.environ.setdefault("SEMANTICS_ATTEMPTS_DIR", str(tmp_path))
    index = load_two(interval=0)
    workers = index.workers
    engine = Engine(index, Store(tmp_path / "durable.sqlite"))

    async def scenario() -> dict[str, object]:
        await engine.start()
        try:
            iid = engine.start_new("napping_children", "nap-run", json.dumps(40))
            victim = 0
            # A worker with two invocations in flight: at least one is an activity (0.1 s
            # naps), still running when the kill lands. With one, it may be an orchestrator
            # episode (a few ms) that answers first, and nothing is lost.
            while not victim:
                busy = [pid for pid, n in workers.in_flight().items() if n >= 2]  # type: ignore[attr-defined]
                victim = busy[0] if busy else 0
                await asyncio.sleep(0.005)
            os.kill(victim, signal.SIGKILL)
            await engine.wait(iid, 60)
            status = engine.status(iid)
            assert status is not None
            return {**status, "victim": victim}
        finally:
            await engine.stop()

    try:
        status = asyncio.run(scenario())
        assert status["runtimeStatus"] == "Completed"
        assert status["output"] == sum(i * 2 for i in range(40))
        assert workers.restarts >= 1  # type: ignore[attr-defined]
        assert status["victim"] not in workers.pids  # type: ignore[attr-defined]
        # The survivor can finish the run before the replacement is up (its start is slower
        # under load), so wait for the count rather than read it once.
        until(lambda: len(workers.pids) == 2, 30)  # type: ignore[attr-defined]
        assert any("lost its worker" in r.getMessage() for r in caplog.records)
    finally:
        workers.stop()
        engine.store.close()


def test_a_killed_worker_is_replaced_and_runs_complete(pair: Pair) -> None:
    """The host starts another worker; what the dead one held is delivered again."""
    first = both_ready(pair)
    restarts = pair.workers.restarts
    os.kill(first[0], signal.SIGKILL)
    engine = engine_of(pair.host)
    status = engine.status(pair.host.call(run(engine, "fan_out", json.dumps(20))))
    assert status is not None and status["runtimeStatus"] == "Completed", status
    assert status["output"] == sum(i * 2 for i in range(20))
    until(lambda: pair.workers.restarts > restarts, 30)
    assert first[0] not in pair.workers.pids


def test_the_second_worker_starts_an_interval_after_the_first_is_ready(pair: Pair) -> None:
    """StartWorkerProcesses: start, await initialization, Task.Delay(ProcessStartupInterval),
    start the next; the host serves with the first meanwhile."""
    (_, first_ready), (second_started, second_ready) = pair.starts
    assert first_ready is not None and second_ready is not None
    assert second_started - first_ready >= INTERVAL


def test_sequential_calls_alternate_between_the_ready_workers(pair: Pair) -> None:
    """RpcFunctionInvocationDispatcherLoadBalancer: `Interlocked.Increment(ref _counter) %
    count` over the initialized channels, whatever each has in flight."""
    pids = set(both_ready(pair))
    seen = [probe(pair, "/api/probe/rr")["pid"] for _ in range(40)]
    assert set(seen) == pids
    assert all(a != b for a, b in zip(seen, seen[1:], strict=False))
    assert min(seen.count(pid) for pid in pids) >= 15


def test_the_worker_gets_the_hosts_capabilities(pair: Pair) -> None:
    """GrpcWorkerChannel.SendWorkerInitRequest: MultiStream = 10; no FunctionDataCache
    (shared memory is off), no V2Compatable (not in V2 compatibility mode)."""
    assert probe(pair, "/api/probe/caps")["capabilities"] == {"MultiStream": "10"}


def test_an_http_call_carries_its_binding_data(pair: Pair) -> None:
    """The JSON body's top-level properties (objects as JSON, arrays and nulls left out,
    others as strings the .NET way), the query but `code` (last value wins), the route
    parameters, `Query` and `Headers` (names as sent); not the request itself, which the
    runtime does without (RpcHttpTriggerMetadataRemoved). An HTTP request's Activity is ASP.NET
    Core's, with no tags."""
    body = {"customer_id": "c-1", "nested": {"k": 1}, "skus": ["a"], "count": 3,
            "flag": True, "nothing": None}
    seen = probe(pair, "/api/probe/item-7?color=blue&color=red&code=k", method="POST",
                 body=body, headers={"Content-Type": "application/json", "X-Probe": "1"})
    metadata = seen["trigger_metadata"]
    assert {k: v for k, v in metadata.items() if k not in ("Query", "Headers")} == {
        "customer_id": ["string", "c-1"], "nested": ["json", '{"k":1}'],
        "count": ["string", "3"], "flag": ["string", "True"],
        "color": ["string", "red"], "item": ["string", "item-7"]}
    assert metadata["Query"][0] == "json"
    assert json.loads(metadata["Query"][1]) == {"color": "red", "code": "k"}
    headers = json.loads(metadata["Headers"][1])
    assert headers["X-Probe"] == "1" and headers["Content-Type"] == "application/json"
    assert seen["attributes"] == {}


def test_an_activity_carries_its_instance_id_and_data(pair: Pair) -> None:
    """ActivityTriggerAttributeBindingProvider.BindAsync for a string parameter (the legacy
    out-of-process protocol Python uses): `instanceId`, the trigger name → the input as a
    string, `data` → the input as JSON. These hosts have no connection string, so there is
    no DurableTask Activity: the WebJobs logger's operation Activity, tagged with the
    operation name, is the current one."""
    engine = engine_of(pair.host)
    iid = pair.host.call(run(engine, "probing", json.dumps({"a": 1, "b": "x"})))
    status = engine.status(iid)
    assert status is not None and status["runtimeStatus"] == "Completed", status
    seen = status["output"]
    assert seen["trigger_metadata"] == {
        "instanceId": ["string", iid], "payload": ["string", '{"a":1,"b":"x"}'],
        "data": ["json", '{"a":1,"b":"x"}']}
    assert seen["attributes"] == {"OperationName": "probe_activity"}
