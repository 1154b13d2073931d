"""Durable entities over real HTTP: the Counter sample through the SDK client and from an
orchestration, and the entity management API.

Sources (Azure/azure-functions-durable-extension): EntityTriggerAttributeBindingProvider
.EntityContextToString (the batch request), TaskEntityShim.ExecuteOutOfProcBatch (results,
ResponseMessage with exceptionType "Error", state), HttpApiHandler (entities route:
HandleGetEntityRequestAsync, HandleListEntitiesRequestAsync,
HandlePostEntityOperationRequestAsync), DurableClient.SignalEntityAsyncInternal (key
characters, ThrowIfFunctionDoesNotExist → 400).
"""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest

from devhost.cli.start import host_server, load_app
from devhost.durable.engine import Engine
from devhost.durable.history import EventType
from devhost.durable.store import Store
from devhost.host.server import BackgroundHost

from .support import APPS, engine_of, http, until

ENTITIES = "/runtime/webhooks/durabletask/entities"


@pytest.fixture(scope="module")
def host(tmp_path_factory: pytest.TempPathFactory) -> Iterator[BackgroundHost]:
    index = load_app("entity_counter_app", APPS)
    store = Store(Path(tmp_path_factory.mktemp("store")) / "durable.sqlite")
    with BackgroundHost(host_server(index, Engine(index, store), port=0)) as background:
        yield background


def _poll(url: str) -> dict[str, Any]:
    return dict(until(lambda: (r := http("GET", url))[0] == 200 and r[1]))


@pytest.mark.host
def test_sdk_client_signals_and_reads_the_counter(host: BackgroundHost) -> None:
    base = host.base_url
    assert http("GET", f"{base}/api/counter/c1")[1] == {"exists": False, "state": None}
    for _ in range(3):
        assert http("POST", f"{base}/api/counter/c1/add", 2)[0] == 202
    read = until(lambda: (b := http("GET", f"{base}/api/counter/c1")[1])["state"] == 6 and b)
    assert read == {"exists": True, "state": 6}
    http("POST", f"{base}/api/counter/c1/reset")
    until(lambda: http("GET", f"{base}/api/counter/c1")[1]["state"] == 0)


@pytest.mark.host
def test_orchestration_calls_and_signals_the_entity(host: BackgroundHost) -> None:
    _, started, _ = http("POST", f"{host.base_url}/api/orchestrators/counter_orchestrator", "o1")
    final = _poll(started["statusQueryGetUri"] + "&showHistory=true")
    assert final["runtimeStatus"] == "Completed", final
    # signal (+10) is sent before the call (+5), and one entity processes in order.
    assert final["output"] == {"value": 15, "error": "cannot divide", "after": 15}
    sent = [e for e in final["historyEvents"] if e["EventType"] == "EventSent"]
    assert [e["InstanceId"] for e in sent] == ["@counter@o1"] * 5
    engine = engine_of(host)
    raw = [e for e in engine.store.history(started["id"])
           if e["EventType"] == EventType.EVENT_SENT]
    assert [e["EventId"] for e in raw] == [0, 1, 2, 3, 4]  # the SDK's task ids


@pytest.mark.host
def test_call_to_a_missing_entity_fails_the_orchestration_clearly(host: BackgroundHost) -> None:
    _, started, _ = http("POST", f"{host.base_url}/api/orchestrators/calls_missing_entity")
    final = _poll(started["statusQueryGetUri"])
    assert final["runtimeStatus"] == "Failed"
    assert "The function 'nope' doesn't exist" in final["output"]  # EntityId lowercases names


@pytest.mark.host
def test_entity_management_api(host: BackgroundHost) -> None:
    """HttpApiHandler (2.13.7 and the v3.x branch 92fecfc) forms `new EntityId(entityName,
    entityKey)` from the URL, and the list returns DurableEntityStatus with the EntityId
    read back from the scheduler id: EntityId's constructor lowercases the name
    (EntityScheduler/EntityId.cs), so the entity function `Counter` is listed as `counter`,
    and an unknown name is reported lowercased."""
    base = host.base_url + ENTITIES
    assert http("GET", f"{base}/Counter/m1")[0] == 404
    status, _, _ = http("POST", f"{base}/Counter/m1?op=add", raw=b"7",
                        headers={"Content-Type": "application/json"})
    assert status == 202
    assert until(lambda: (r := http("GET", f"{base}/counter/m1"))[0] == 200 and r[1]) == 7
    _, listed, headers = http("GET", f"{base}/Counter?fetchState=true")
    assert {"entityId": {"name": "counter", "key": "m1"}, "state": 7} in [
        {k: v for k, v in e.items() if k != "lastOperationTime"} for e in listed]
    assert {e["entityId"]["name"] for e in listed} == {"counter"}
    assert "x-ms-continuation-token" in {k.lower() for k in headers}
    status, body, _ = http("POST", f"{base}/Missing/k?op=add", 1)
    assert status == 400 and "The function 'missing' doesn't exist" in body["Message"]
    status, body, _ = http("POST", f"{base}/Counter/m1?op=add", raw=b"{nope",
                           headers={"Content-Type": "application/json"})
    assert status == 400 and body["field"] == "body"


def test_queued_operations_run_as_one_batch_and_entity_signals_reach_other_entities(
        tmp_path: Path) -> None:
    """TaskEntityShim runs what is queued as one batch and sends the batch's `signals`
    (OutOfProcResult.Signals) as operation messages to their targets."""

    from devhost.durable import entities

    # In this process (the same runtime and messages), so the test can read the app's BATCHES.
    index = load_app("entity_counter_app", APPS, worker_processes=False)
    import entity_counter_app

    engine = Engine(index, Store(tmp_path / "d.sqlite"))
    entity_counter_app.BATCHES.clear()
    # Queued while the host is down: one batch at the next start.
    _ping_relay_then_run(engine, "r1", 3)
    assert entity_counter_app.BATCHES == [["ping", "ping", "ping"]]
    assert entities.read(engine.store, "@relay@r1").state == "1"
    assert entities.read(engine.store, "@counter@r1").state == "3"
    engine.store.close()


def _ping_relay_then_run(engine: Engine, key: str, pings: int) -> None:
    """Queue `pings` signals to Relay(key) before the engine starts, then run it until the
    Counter the relay signals has counted them all."""
    import asyncio

    from devhost.durable import entities

    relay = entities.EntityRef("Relay", key)
    for n in range(pings):
        req = entities.request("ping", None, request_id=f"id-{n}", signal=True)
        with engine.store.transaction():
            engine.store.send(relay.scheduler_id, entities.operation_message(req))

    async def main() -> None:
        await engine.start()
        try:
            for _ in range(200):
                if entities.read(engine.store, f"@counter@{key}").state == str(pings):
                    return
                await asyncio.sleep(0.02)
        finally:
            await engine.stop()

    asyncio.run(main())


def test_batches_hold_at_most_max_entity_operation_batch_size(tmp_path: Path) -> None:
    """host.json `maxEntityOperationBatchSize` (DurableTaskOptions; DurableTaskExtension stops
    filling a batch at that count)."""
    import dataclasses


    # In this process (the same runtime and messages), so the test can read the app's BATCHES.
    index = load_app("entity_counter_app", APPS, worker_processes=False)
    import entity_counter_app

    engine = Engine(index, Store(tmp_path / "d.sqlite"))
    engine.options = dataclasses.replace(engine.options, max_entity_operation_batch_size=2)
    entity_counter_app.BATCHES.clear()
    _ping_relay_then_run(engine, "r2", 5)
    assert [len(b) for b in entity_counter_app.BATCHES] == [2, 2, 1]
    engine.store.close()
