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
from devhost.cli.start import durable_options, flush_telemetry, host_server, load_app
from devhost.host.server import BackgroundHost
apply_local_settings(Path("."))  # as the host does first: the task hub name comes from there
index = load_app("function_app", Path("."), worker_processes=False)
# host.json's options, Durable tracing V2 included: the host rows Azure would send count too.
engine = Engine(index, Store(Path(sys.argv[1])), durable_options(Path(".")))
with BackgroundHost(host_server(index, engine, port=0)) as h:
    for _ in range(int(sys.argv[2])):
        _, started = send("POST", h.base_url + "/api/start-sub-orchestration")
        follow(started["statusQueryGetUri"], 30)
flush_telemetry()
"""


def _identity(envelope: dict[str, Any]) -> tuple[Any, ...]:
    base = envelope["data"]["baseData"]
    tags = envelope.get("tags", {})
    return (envelope["data"]["baseType"], base.get("id"), base.get("message"),
            tags.get("ai.operation.parentId"), envelope.get("time"))


def test_telemetry_volume(benchmark: Any, results: dict[str, Any], tmp_path: Path) -> None:
    runs = 10 if QUICK else 50
    with IngestionServer(tmp_path / "i.duckdb", keep_envelopes=100_000) as server:
        env = {k: v for k, v in os.environ.items() if not k.startswith(("OTEL_", "TELEMETRY_"))}
        env.update(APPLICATIONINSIGHTS_CONNECTION_STRING=server.connection_string,
                   PYTHONPATH=str(REPO), TELEMETRY_CONSOLE_LOGS="false")

        def capture() -> None:
            subprocess.run([sys.executable, "-c", PROBE, str(tmp_path / "d.sqlite"), str(runs)],
                           cwd=REPO, env=env, check=True, timeout=600, capture_output=True)

        benchmark.pedantic(capture, rounds=1, iterations=1)
        items = [e for e in server.ingestion.envelopes if e["data"]["baseType"] != "MetricData"]
        wire_bytes = server.ingestion.bytes
    duplicates = sum(n - 1 for n in Counter(_identity(e) for e in items).values() if n > 1)
    results["items_per_run"] = round(len(items) / runs, 2)
    results["bytes_per_run"] = round(wire_bytes / runs, 1)
    results["duplicate_items"] = duplicates
    assert duplicates == 0
