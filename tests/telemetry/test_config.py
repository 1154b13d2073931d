"""configure(): offline with a loopback endpoint, sampling keeps or drops whole runs."""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path

import pytest

from devhost.insights.ingest import IngestionServer

REPO = Path(__file__).resolve().parents[2]

# Runs a whole recipe run with every socket connection and DNS lookup recorded.
_OFFLINE_PROBE = r"""
import json, socket, sys
contacted = []
_connect, _getaddrinfo = socket.socket.connect, socket.getaddrinfo
def connect(self, address):
    contacted.append(str(address[0]))
    return _connect(self, address)
def getaddrinfo(host, *args, **kwargs):
    contacted.append(str(host))
    return _getaddrinfo(host, *args, **kwargs)
socket.socket.connect = connect
socket.getaddrinfo = getaddrinfo
from devhost.cli import main
code = main(["run", "parent_workflow_orchestrator", "--data-dir", sys.argv[1]])
import time; time.sleep(2)  # give background exporters/statsbeat a chance to misbehave
print("CONTACTED=" + json.dumps(sorted(set(contacted))))
sys.exit(code)
"""


def _env(**extra: str) -> dict[str, str]:
    env = {k: v for k, v in os.environ.items()
           if not k.startswith(("OTEL_", "TELEMETRY_", "APPLICATIONINSIGHTS_"))}
    env.update(PYTHONPATH=str(REPO), **extra)
    return env


def test_loopback_connection_string_contacts_only_loopback(tmp_path: Path) -> None:
    with IngestionServer(tmp_path / "insights.duckdb") as server:
        proc = subprocess.run([sys.executable, "-c", _OFFLINE_PROBE, str(tmp_path / "data")],
                              cwd=REPO, env=_env(APPLICATIONINSIGHTS_CONNECTION_STRING=
                                                 server.connection_string),
                              capture_output=True, text=True, timeout=120)
        assert proc.returncode == 0, proc.stderr
        received = server.ingestion.items
    line = next(x for x in proc.stdout.splitlines() if x.startswith("CONTACTED="))
    contacted = json.loads(line.removeprefix("CONTACTED="))
    assert contacted, "the probe saw no connection at all"
    assert set(contacted) <= {"127.0.0.1", "localhost", "::1"}, contacted
    assert received > 0


_SAMPLING_PROBE = r"""
import json, sys
from pathlib import Path
from opentelemetry.sdk.trace.export.in_memory_span_exporter import InMemorySpanExporter
import telemetry
from opentelemetry import trace
from devhost.durable.engine import Engine, EngineOptions
from devhost.durable.store import Store
from devhost.durable.tracing import HostTracer
from devhost.runtime import load_app
from devhost.server import BackgroundHost, HostServer
from devhost.client import follow, send
index = load_app("function_app", Path("."), worker_processes=False)
spans = InMemorySpanExporter()
telemetry.configure(span_exporter=spans)
roots = []
engine = Engine(index, Store(Path(sys.argv[1])), EngineOptions(tracing_v2=True),
                tracer=HostTracer(enabled=True, provider=trace.get_tracer_provider()))
with BackgroundHost(HostServer(index, engine, port=0)) as h:
    for _ in range(40):
        _, started = send("POST", h.base_url + "/api/start-sub-orchestration")
        follow(started["statusQueryGetUri"], 30)
        roots.append(started["id"])
per_trace = {}
for s in spans.get_finished_spans():
    per_trace.setdefault(s.context.trace_id, []).append(s.name)
sizes = sorted(len(v) for v in per_trace.values())
print("TRACES=" + json.dumps({"runs": len(roots), "sizes": sizes}))
"""


def test_sampling_keeps_or_drops_whole_runs(tmp_path: Path) -> None:
    proc = subprocess.run([sys.executable, "-c", _SAMPLING_PROBE, str(tmp_path / "d.sqlite")],
                          cwd=REPO, env=_env(TELEMETRY_SAMPLING_RATIO="0.5",
                                             TELEMETRY_LOCAL_DIR=str(tmp_path / "t"),
                                             TELEMETRY_CONSOLE_LOGS="false"),
                          capture_output=True, text=True, timeout=180)
    assert proc.returncode == 0, proc.stderr
    line = next(x for x in proc.stdout.splitlines() if x.startswith("TRACES="))
    summary = json.loads(line.removeprefix("TRACES="))
    sizes = summary["sizes"]
    # A kept run has all its spans: HTTP request, starter, create_orchestration, 3
    # orchestrations, 2 sub-orchestration CLIENT spans, 2 activity CLIENT + 2 SERVER spans,
    # 2 app activity spans. A dropped run has none — although the host hands the starter a
    # `-00` traceparent (test_http_trigger_gets_the_callers_flag_or_00).
    assert set(sizes) == {14}, sizes
    assert 0 < len(sizes) < summary["runs"]  # P(all 40 kept or all dropped) = 2**-39


def test_sampling_ratio_must_be_a_fraction() -> None:
    from telemetry.config import sampling_ratio

    os.environ["TELEMETRY_SAMPLING_RATIO"] = "2"
    try:
        with pytest.raises(ValueError, match="TELEMETRY_SAMPLING_RATIO"):
            sampling_ratio()
    finally:
        del os.environ["TELEMETRY_SAMPLING_RATIO"]


def test_sync_export_must_be_a_boolean(monkeypatch: pytest.MonkeyPatch) -> None:
    from telemetry.config import sync_export

    monkeypatch.setenv("TELEMETRY_SYNC_EXPORT", "TRUE")
    assert sync_export()
    monkeypatch.setenv("TELEMETRY_SYNC_EXPORT", "yes please")
    with pytest.raises(ValueError, match="TELEMETRY_SYNC_EXPORT"):
        sync_export()


_KILLED_PROBE = r"""
import logging, os, signal
from opentelemetry import trace
from telemetry import config
config.configure()
with trace.get_tracer("probe").start_as_current_span("probe-span"):
    logging.getLogger("durable_workflow").warning("probe-log")
os.kill(os.getpid(), signal.SIGKILL)
"""


@pytest.mark.parametrize("sync", [True, False])
def test_sync_export_leaves_nothing_in_memory_for_a_kill(tmp_path: Path, sync: bool) -> None:
    with IngestionServer(tmp_path / "insights.duckdb") as server:
        proc = subprocess.run(
            [sys.executable, "-c", _KILLED_PROBE], cwd=REPO, capture_output=True, text=True,
            timeout=60, env=_env(APPLICATIONINSIGHTS_CONNECTION_STRING=server.connection_string,
                                 TELEMETRY_SYNC_EXPORT=str(sync).lower(),
                                 TELEMETRY_CONSOLE_LOGS="false", TMPDIR=str(tmp_path)))
        assert proc.returncode == -9, proc.stderr
        counts = server.store.counts()
    # Batch export (the default) loses what it had not sent yet; sync export loses nothing.
    expected = 1 if sync else 0
    assert (counts["dependencies"], counts["traces"]) == (expected, expected)
