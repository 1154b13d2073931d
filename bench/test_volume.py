"""What the exporter sends per recipe run: items, gzip bytes, duplicates (must be 0)."""

from __future__ import annotations

import os
import subprocess
import sys
from collections import Counter
from pathlib import Path
from typing import Any

from devhost.insights.ingest import IngestionServer

from .conftest import QUICK

REPO = Path(__file__).resolve().parents[1]
PROBE = r"""
import sys
from pathlib import Path
from devhost.cli.client import follow, send
from devhost.durable.engine import Engine
from devhost.durable.store import Store
from devhost.host.settings import apply_local_settings
from devhost.cli.start import durable_options, flush_telemetry, host_server, load_app, stop_workers
from devhost.host.server import BackgroundHost
apply_local_settings(Path("."))  # as the host does first: the task hub name comes from there
# sys.argv[3]: worker processes over gRPC, as `devhost start` runs the app ("0": in-process)
count = int(sys.argv[3])
index = load_app("function_app", Path("."), worker_processes=count > 0, count=count or None,
                 console_invocations=False)
# host.json's options, Durable tracing V2 included: the host rows Azure would send count too.
engine = Engine(index, Store(Path(sys.argv[1])), durable_options(Path(".")))
with BackgroundHost(host_server(index, engine, port=0)) as h:
    for _ in range(int(sys.argv[2])):
        _, started = send("POST", h.base_url + "/api/start-sub-orchestration")
        follow(started["statusQueryGetUri"], 30)
stop_workers(index)  # a worker exports what it still holds when the host ends it
flush_telemetry()
"""


def _identity(envelope: dict[str, Any]) -> tuple[Any, ...]:
    base = envelope["data"]["baseData"]
    tags = envelope.get("tags", {})
    return (envelope["data"]["baseType"], base.get("id"), base.get("message"),
            tags.get("ai.operation.parentId"), envelope.get("time"))


def _volume(tmp_path: Path, runs: int, workers: int) -> tuple[list[dict[str, Any]], int]:
    """The envelopes (the exporter's metric aside) and wire bytes `runs` recipe runs send."""
    with IngestionServer(tmp_path / f"i{workers}.duckdb", keep_envelopes=100_000) as server:
        env = {k: v for k, v in os.environ.items() if not k.startswith(("OTEL_", "TELEMETRY_"))}
        env.update(APPLICATIONINSIGHTS_CONNECTION_STRING=server.connection_string,
                   PYTHONPATH=str(REPO), TELEMETRY_CONSOLE_LOGS="false")
        subprocess.run([sys.executable, "-c", PROBE, str(tmp_path / f"d{workers}.sqlite"),
                        str(runs), str(workers)],
                       cwd=REPO, env=env, check=True, timeout=600, capture_output=True)
        items = [e for e in server.ingestion.envelopes if e["data"]["baseType"] != "MetricData"]
        return items, server.ingestion.bytes


def _duplicates(items: list[dict[str, Any]]) -> int:
    return sum(n - 1 for n in Counter(_identity(e) for e in items).values() if n > 1)


def test_telemetry_volume(benchmark: Any, results: dict[str, Any], tmp_path: Path) -> None:
    """Through two worker processes as `devhost start` runs the app (the host's
    Executing/Executed rows come with them), and in-process beside it."""
    runs = 10 if QUICK else 50
    measured: dict[int, tuple[list[dict[str, Any]], int]] = {}

    def capture() -> None:
        for workers in (2, 0):
            measured[workers] = _volume(tmp_path, runs, workers)

    benchmark.pedantic(capture, rounds=1, iterations=1)
    (items, wire_bytes), (local_items, _) = measured[2], measured[0]
    results["items_per_run"] = round(len(items) / runs, 2)
    results["items_per_run_in_process"] = round(len(local_items) / runs, 2)
    results["bytes_per_run"] = round(wire_bytes / runs, 1)
    results["duplicate_items"] = _duplicates(items) + _duplicates(local_items)
    assert results["duplicate_items"] == 0
