"""configure(): offline with a loopback endpoint, sampling keeps or drops whole runs, sync
export. Runs of the recipe go through the `durable_app` plugin (the app in devhost's worker
processes); the kill test posts to a small loopback receiver of its own."""

from __future__ import annotations

import gzip
import json
import os
import secrets
import subprocess
import sys
import threading
from collections.abc import Iterator
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path
from typing import Any

import pytest

from devhost.testing import DurableApp

REPO = Path(__file__).resolve().parents[2]
STARTER = "/api/start-sub-orchestration"

# Imported at start-up by every Python process of the run (the host and its workers, through
# PYTHONPATH): records each socket connection and DNS lookup in a file per process.
_RECORDER = r"""
import os, socket
_log = os.path.join(os.environ["CONTACTS_DIR"], f"{os.getpid()}.txt")
_connect, _getaddrinfo = socket.socket.connect, socket.getaddrinfo
def _note(host):
    with open(_log, "a", encoding="utf-8") as out:
        out.write(str(host) + "\n")
def connect(self, address):
    if isinstance(address, tuple):
        _note(address[0])
    return _connect(self, address)
def getaddrinfo(host, *args, **kwargs):
    _note(host)
    return _getaddrinfo(host, *args, **kwargs)
socket.socket.connect = connect
socket.getaddrinfo = getaddrinfo
"""


def test_loopback_connection_string_contacts_only_loopback(durable_app: DurableApp,
                                                           tmp_path: Path) -> None:
    """Local insights is a loopback IngestionEndpoint: the exporters' statsbeat, SDK stats
    and control-plane calls (which would go to Azure) are off."""
    (tmp_path / "site").mkdir()
    (tmp_path / "site" / "sitecustomize.py").write_text(_RECORDER, encoding="utf-8")
    (tmp_path / "contacts").mkdir()
    durable_app.settings.update(
        PYTHONPATH=os.pathsep.join([str(tmp_path / "site"), os.environ.get("PYTHONPATH", "")]),
        CONTACTS_DIR=str(tmp_path / "contacts"))
    run = durable_app.http("POST", STARTER)
    assert run.wait().runtime_status == "Completed"
    assert run.spans(name="run_activity:*")
    # Every export is made by the time the host and its workers have stopped, which close()
    # waits for: they flush their providers as they stop. (Statsbeat's first export comes
    # 15 s after start, OneSettings' first call 5 to 15 s: no short wait would see them; the
    # offline switches keep them off.)
    durable_app.close()
    files = list((tmp_path / "contacts").glob("*.txt"))
    assert len(files) >= 2, "the host and its worker should both have recorded"
    contacted = {line for f in files for line in f.read_text().split()}
    assert contacted, "no connection at all"
    assert contacted <= {"127.0.0.1", "localhost", "::1"}, contacted


@pytest.mark.durable_app(settings={"TELEMETRY_SAMPLING_RATIO": "0.5"})
def test_sampling_keeps_or_drops_whole_runs(durable_app: DurableApp) -> None:
    runs = 20
    # Unsampled callers: the app decides by trace id, never by this flag.
    started = [durable_app.http("POST", STARTER, headers={
        "traceparent": f"00-{secrets.token_hex(16)}-{secrets.token_hex(8)}-00"})
        for _ in range(runs)]
    assert {run.wait().runtime_status for run in started} == {"Completed"}
    kept = durable_app.kql("""union requests, dependencies
| where isnotempty(tostring(customDimensions["app.durable.role"]))
| summarize n = count() by operation_Id""")
    # A kept run has all the app's spans (the starter's and both activities'); a dropped
    # run has none. The host's rows are the host's sampling's business (host.json).
    assert {n for _, n in kept} == {3}, kept
    assert 0 < len(kept) < runs  # P(all 20 kept or all dropped) = 2**-19


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


def _env(**extra: str) -> dict[str, str]:
    env = {k: v for k, v in os.environ.items()
           if not k.startswith(("OTEL_", "TELEMETRY_", "APPLICATIONINSIGHTS_"))}
    env.update(PYTHONPATH=str(REPO), **extra)
    return env


class _Receiver(BaseHTTPRequestHandler):
    """An ingestion endpoint that keeps the envelopes it is sent (JSON array, maybe gzip)."""

    items: list[dict[str, Any]]

    def do_POST(self) -> None:  # noqa: N802 - http.server's name
        raw = self.rfile.read(int(self.headers.get("Content-Length") or 0))
        if raw[:2] == b"\x1f\x8b":
            raw = gzip.decompress(raw)
        text = raw.decode("utf-8").strip()
        got = json.loads(text) if text.startswith("[") else \
            [json.loads(line) for line in text.splitlines() if line.strip()]
        self.server.items.extend(got)  # type: ignore[attr-defined]
        body = json.dumps({"itemsReceived": len(got), "itemsAccepted": len(got),
                           "errors": []}).encode()
        self.send_response(200)
        self.send_header("Content-Type", "application/json")
        self.send_header("Content-Length", str(len(body)))
        self.end_headers()
        self.wfile.write(body)

    def log_message(self, *args: Any) -> None:
        pass


@pytest.fixture()
def receiver() -> Iterator[ThreadingHTTPServer]:
    server = ThreadingHTTPServer(("127.0.0.1", 0), _Receiver)
    server.items = []  # type: ignore[attr-defined]
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    try:
        yield server
    finally:
        server.shutdown()
        server.server_close()


@pytest.mark.host
@pytest.mark.parametrize("sync", [True, False])
def test_sync_export_leaves_nothing_in_memory_for_a_kill(receiver: ThreadingHTTPServer,
                                                         tmp_path: Path, sync: bool) -> None:
    connection_string = ("InstrumentationKey=00000000-0000-0000-0000-000000000000;"
                         f"IngestionEndpoint=http://127.0.0.1:{receiver.server_address[1]}/")
    proc = subprocess.run(
        [sys.executable, "-c", _KILLED_PROBE], cwd=REPO, capture_output=True, text=True,
        timeout=60, env=_env(APPLICATIONINSIGHTS_CONNECTION_STRING=connection_string,
                             TELEMETRY_SYNC_EXPORT=str(sync).lower(),
                             TELEMETRY_CONSOLE_LOGS="false", TMPDIR=str(tmp_path)))
    assert proc.returncode == -9, proc.stderr
    items: list[dict[str, Any]] = receiver.items  # type: ignore[attr-defined]
    spans = [i for i in items if i["data"]["baseType"] == "RemoteDependencyData"
             and i["data"]["baseData"]["name"] == "probe-span"]
    logs = [i for i in items if i["data"]["baseType"] == "MessageData"
            and i["data"]["baseData"]["message"] == "probe-log"]
    # Batch export (the default) loses what it had not sent yet; sync export loses nothing.
    expected = 1 if sync else 0
    assert (len(spans), len(logs)) == (expected, expected)


_ROOT_HANDLER_PROBE = r"""
import logging, sys
from opentelemetry import trace
logging.basicConfig(level=logging.INFO, stream=sys.stderr)  # as the worker's root handler
logging.getLogger("azure.identity").setLevel(logging.ERROR)  # the app's own choice
from telemetry import config
config.configure()
print("levels", *(logging.getLogger(n).level for n in config.EXPORTER_LOGGERS), file=sys.stderr)
with trace.get_tracer("probe").start_as_current_span("probe-span"):
    logging.getLogger("durable_workflow").warning("probe-log")
trace.get_tracer_provider().force_flush()
print("exported", file=sys.stderr)
"""


@pytest.mark.host
def test_the_exporters_http_traffic_stays_out_of_the_root_handler(
        receiver: ThreadingHTTPServer, tmp_path: Path) -> None:
    """azure-core logs each exporter request and response at INFO; in a worker that goes to
    the root handler the worker installs (the host's console, and App Insights on Azure)
    for every batch. configure() keeps those loggers at WARNING."""
    connection_string = ("InstrumentationKey=00000000-0000-0000-0000-000000000000;"
                         f"IngestionEndpoint=http://127.0.0.1:{receiver.server_address[1]}/")
    proc = subprocess.run(
        [sys.executable, "-c", _ROOT_HANDLER_PROBE], cwd=REPO, capture_output=True, text=True,
        timeout=60, env=_env(APPLICATIONINSIGHTS_CONNECTION_STRING=connection_string,
                             TELEMETRY_SYNC_EXPORT="true", TELEMETRY_CONSOLE_LOGS="false",
                             TMPDIR=str(tmp_path)))
    assert proc.returncode == 0 and "exported" in proc.stderr, proc.stderr
    # WARNING for each, but a level the app set itself (ERROR here) is left alone.
    assert "levels 30 30 40" in proc.stderr, proc.stderr
    items: list[dict[str, Any]] = receiver.items  # type: ignore[attr-defined]
    assert any(i["data"]["baseData"].get("name") == "probe-span" for i in items)
    for noise in ("Request URL:", "Response status:", "Transmission succeeded"):
        assert noise not in proc.stderr, proc.stderr
