"""Telemetry backend down, failing or slow: runs still complete with the right output, no run
waits on an export, nothing raises into function code, and the host shows the failures.

The app's APPLICATIONINSIGHTS_CONNECTION_STRING points at an ingestion endpoint this test
runs on loopback (a settings override). The host's rows go where that setting points too
(devhost/host/telemetry.py host_connection_string, as the Functions host reads the same
setting), so nothing is captured locally: the test reads run statuses and the host's
console."""

from __future__ import annotations

import asyncio
import socket
import threading
import time
from pathlib import Path
from typing import Any

import pytest
from aiohttp import web

from devhost.testing import DurableApp

STARTER = "/api/start-sub-orchestration"
RUNS = 3
SLOW_S = 3.0  # how long the slow backend holds each post (a run takes well under a second)



class FlakyBreeze:
    """An ingestion endpoint that misbehaves on purpose: status code or delay."""

    def __init__(self, status: int = 200, delay: float = 0.0) -> None:
        self.status, self.delay, self.posts = status, delay, 0
        self.loop = asyncio.new_event_loop()
        self.port = 0

    async def _track(self, request: web.Request) -> web.Response:
        self.posts += 1
        await request.read()
        await asyncio.sleep(self.delay)
        return web.json_response({"itemsReceived": 0, "itemsAccepted": 0, "errors": []},
                                 status=self.status)

    def __enter__(self) -> FlakyBreeze:
        app = web.Application()
        for path in ("/v2.1/track", "//v2.1/track"):
            app.router.add_post(path, self._track)
        self.runner = web.AppRunner(app)
        threading.Thread(target=self.loop.run_forever, daemon=True).start()

        async def start() -> None:
            await self.runner.setup()
            site = web.TCPSite(self.runner, "127.0.0.1", 0)
            await site.start()
            self.port = int(self.runner.addresses[0][1])

        asyncio.run_coroutine_threadsafe(start(), self.loop).result(10)
        return self

    def __exit__(self, *exc: object) -> None:
        asyncio.run_coroutine_threadsafe(self.runner.cleanup(), self.loop).result(10)
        self.loop.call_soon_threadsafe(self.loop.stop)


def _closed_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


def _run(app: DurableApp, port: int, tmp: Path) -> list[tuple[float, Any]]:
    """RUNS runs through the starter: (seconds from the request to the run's end, output)."""
    app.settings.update({
        "APPLICATIONINSIGHTS_CONNECTION_STRING": (
            "InstrumentationKey=00000000-0000-0000-0000-000000000000;"
            f"IngestionEndpoint=http://127.0.0.1:{port}/"),
        # The batches the exporter files on disk during the outage stay with this test.
        "TMPDIR": str(tmp)})
    app.base_url  # noqa: B018 - start the host first: its start is not a run's latency
    results = []
    for _ in range(RUNS):
        started = time.perf_counter()
        run = app.http("POST", STARTER)
        assert run.response is not None and run.response.status == 202, run.response
        final = run.wait(60)
        results.append((time.perf_counter() - started, final))
    return results


# These runs mostly wait (on the exporter's retries and the slow backend's posts): on one
# xdist worker, one after another, the other workers keep both cores busy meanwhile.
@pytest.mark.xdist_group("telemetry-outages")
@pytest.mark.slow
@pytest.mark.parametrize("mode", ["down", 500, 429, 503, "slow"])
def test_runs_complete_whatever_the_backend_does(mode: Any, durable_app: DurableApp,
                                                 tmp_path: Path) -> None:
    breeze: FlakyBreeze | None = None
    if mode == "down":
        port = _closed_port()
    else:
        breeze = FlakyBreeze(status=200 if mode == "slow" else int(mode),
                             delay=SLOW_S if mode == "slow" else 0.0).__enter__()
        port = breeze.port
    try:
        results = _run(durable_app, port, tmp_path)
        durable_app.close()  # the host exports what it still holds, and says if it failed
    finally:
        if breeze is not None:
            breeze.__exit__()
    for _, final in results:
        # An exception raised into function code fails the run (or the starter's 202).
        assert final.runtime_status == "Completed"
        assert final.output["customer"]["customerId"] == "cust-1001"
        assert final.output["inventory"]["skuCount"] == 2
    if mode == "slow":
        # Export happens on the exporter's own thread: a run that waited on a post would
        # take at least the backend's delay. (How much an outage costs is make bench's.)
        assert all(seconds < SLOW_S for seconds, _ in results), (mode, results)
    if mode != "slow":
        assert "telemetry export failed" in durable_app.console(), \
            f"{mode}: no trace on the host side"
