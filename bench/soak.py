"""`make soak`: many runs through a real `devhost start` over HTTP while the host is killed
with SIGKILL every few seconds and the ingestion endpoint flaps between up and 503.

Prints `N passed, M failed` for the runs (Completed with the right output), then what the
local App Insights tables hold for their activities. Not part of `make test`."""

from __future__ import annotations

import argparse
import asyncio
import os
import random
import signal
import subprocess
import sys
import tempfile
import threading
import time
from pathlib import Path
from typing import Any

from aiohttp import web

from devhost.cli.client import send
from devhost.insights.ingest import Ingestion
from devhost.insights.query import run_kql
from devhost.insights.store import InsightsStore

REPO = Path(__file__).resolve().parents[1]


class FlappingIngestion:
    """The real ingestion handler behind a switch that answers 503 while 'down'."""

    def __init__(self, db: Path) -> None:
        self.ingestion = Ingestion(InsightsStore(db))
        self.up = True
        self.loop = asyncio.new_event_loop()
        self.port = 0

    async def _track(self, request: web.Request) -> web.StreamResponse:
        if not self.up:
            await request.read()
            return web.json_response({"itemsReceived": 0, "itemsAccepted": 0, "errors": []},
                                     status=503)
        return await self.ingestion.track(request)

    def start(self) -> None:
        app = web.Application(client_max_size=64 * 1024 * 1024)
        for path in ("/v2.1/track", "//v2.1/track"):
            app.router.add_post(path, self._track)
        runner = web.AppRunner(app)
        threading.Thread(target=self.loop.run_forever, daemon=True).start()

        async def go() -> None:
            await runner.setup()
            await web.TCPSite(runner, "127.0.0.1", 0).start()
            self.port = int(runner.addresses[0][1])

        asyncio.run_coroutine_threadsafe(go(), self.loop).result(10)


def _host(port: int, data: Path, ingestion_port: int) -> subprocess.Popen[bytes]:
    env = {k: v for k, v in os.environ.items() if not k.startswith(("OTEL_", "TELEMETRY_"))}
    # Sync export: a span is posted, or filed in the exporter's disk store, before the
    # activity returns, so a SIGKILL can only take spans whose activity result it also takes.
    # TMPDIR gives this soak a disk store of its own.
    env.update(PYTHONPATH=str(REPO), TELEMETRY_CONSOLE_LOGS="false", TMPDIR=str(data.parent),
               TELEMETRY_SYNC_EXPORT="true", DEVHOST_SYNC_EXPORT="true",
               APPLICATIONINSIGHTS_CONNECTION_STRING=(
                   "InstrumentationKey=00000000-0000-0000-0000-000000000505;"
                   f"IngestionEndpoint=http://127.0.0.1:{ingestion_port}/"))
    return subprocess.Popen([sys.executable, "-m", "devhost", "start", "--port", str(port),
                             "--data-dir", str(data)], cwd=REPO, env=env,
                            stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)


def _post(base: str, deadline: float) -> str | None:
    while time.monotonic() < deadline:
        try:
            status, body = send("POST", f"{base}/api/start-sub-orchestration", timeout=5)
            if status == 202:
                return str(body["id"])
        except OSError:
            pass
        time.sleep(0.05)
    return None


def _stored_blobs(tmp: Path) -> int:
    """Batches the exporter filed on disk after a 503 and has not delivered yet."""
    return sum(1 for p in tmp.glob("Microsoft-AzureMonitor-*/**/*")
               if p.is_file() and p.name.endswith((".blob", ".lock", ".tmp")))


def _drain(base: str, tmp: Path, deadline: float) -> None:
    """The exporter resends stored batches (after their 60 s lease) only when a later export
    succeeds, 10 per export: keep a trickle of runs going until the disk store is empty."""
    while _stored_blobs(tmp) and time.monotonic() < deadline:
        _post(base, deadline)
        time.sleep(2)


def main() -> int:
    parser = argparse.ArgumentParser()
    parser.add_argument("--runs", type=int, default=int(os.environ.get("SOAK_RUNS", "2000")))
    parser.add_argument("--kill-every", type=float, default=4.0, help="mean seconds")
    parser.add_argument("--minutes", type=float, default=30.0, help="hard stop")
    parser.add_argument("--rate", type=float, default=20.0, help="runs started per second")
    args = parser.parse_args()
    rng = random.Random(7)
    tmp = Path(tempfile.mkdtemp(prefix="soak-"))
    sink = FlappingIngestion(tmp / "insights.duckdb")
    sink.start()
    with __import__("socket").socket() as sock:
        sock.bind(("127.0.0.1", 0))
        port = sock.getsockname()[1]
    base = f"http://127.0.0.1:{port}"
    deadline = time.monotonic() + args.minutes * 60
    stop = threading.Event()
    host = [_host(port, tmp / "data", sink.port)]
    kills = flaps = 0

    def chaos() -> None:
        nonlocal kills, flaps
        while not stop.wait(rng.uniform(0.5, 2 * args.kill_every)):
            if rng.random() < 0.5:
                sink.up = not sink.up
                flaps += 1
                continue
            os.kill(host[0].pid, signal.SIGKILL)
            host[0].wait()
            kills += 1
            host[0] = _host(port, tmp / "data", sink.port)

    threading.Thread(target=chaos, daemon=True).start()
    roots = []
    for _ in range(args.runs):
        started = time.monotonic()
        root = _post(base, deadline)
        if root:
            roots.append(root)
        time.sleep(max(0.0, 1 / args.rate - (time.monotonic() - started)))
    stop.set()
    sink.up = True
    passed = failed = 0
    for root in roots:
        final: Any = None
        while time.monotonic() < deadline:
            try:
                final = send("GET", f"{base}/runtime/webhooks/durabletask/instances/{root}",
                             timeout=5)[1]
                if final.get("runtimeStatus") not in ("Pending", "Running"):
                    break
            except OSError:
                pass
            time.sleep(0.1)
        ok = (isinstance(final, dict) and final.get("runtimeStatus") == "Completed"
              and final["output"]["customer"]["customerId"] == "cust-1001"
              and final["output"]["inventory"]["skuCount"] == 2)
        passed, failed = passed + ok, failed + (not ok)
    _drain(base, tmp, deadline)
    host[0].send_signal(signal.SIGTERM)
    host[0].wait(30)
    time.sleep(2)
    _, rows = run_kql(sink.ingestion.store.path, """dependencies
| where tostring(customDimensions["app.durable.role"]) == "activity"
| summarize spans = count(), distinctSpans = dcount(id)
    by root = tostring(customDimensions["app.durable.root_instance_id"])""")
    by_root = {r[0]: (r[1], r[2]) for r in rows}
    missing = sum(1 for root in roots if by_root.get(root, (0, 0))[1] < 2)
    duplicated = sum(spans - distinct for spans, distinct in by_root.values())
    # An activity a kill cut off after it ran is run again (at-least-once): both runs are real
    # executions, so both have a span; these are counted, not flagged.
    rerun = sum(max(0, by_root.get(root, (0, 0))[1] - 2) for root in roots)
    print(f"kills={kills} flaps={flaps} runs={len(roots)} activities re-run after a kill={rerun}")
    print(f"telemetry: runs missing an activity span={missing}, duplicate span rows={duplicated}"
          f", batches left in the exporter's disk store={_stored_blobs(tmp)}")
    print(f"{passed} passed, {failed} failed")
    return 0 if failed == 0 and len(roots) == args.runs else 1


if __name__ == "__main__":
    sys.exit(main())
