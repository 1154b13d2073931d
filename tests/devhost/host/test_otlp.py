"""What the host exports over OTLP, checked against azure-functions-host's
src/WebJobs.Script/Diagnostics/OpenTelemetry/OpenTelemetryConfigurationExtensions.cs on main as
of #11720 (read at BlackRider97/azure-functions-host a1f6b7ed15e1ef445b2400bd494d0e85c58351d3;
no upstream snapshot that new is stored here), src/WebJobs.Script/ScriptHostBuilderExtensions.cs
(ConfigureTelemetry, v4.1037.0 89dc438d476542786f2fc4070f553423213a6223) and DurableTask.Core's
src/DurableTask.Core/Tracing/TraceHelper.cs (Azure/durabletask 5217032).

- `telemetryMode: OpenTelemetry` with OTEL_EXPORTER_OTLP_ENDPOINT: the OTLP exporter on the
  host's logs (Executing/Executed under `Function.<name>`, the worker's relayed logs under
  `Function.<name>.User`; never `Host.Results`, `Azure.*`) and on its traces, which listen to
  ASP.NET Core (the HTTP trigger's request), `Microsoft.Azure.WebJobs` and `DurableTask.*`:
  the Durable spans arrive too, whatever host.json's Durable V2 switch says, since
  DurableTask.Core starts them for any listener.
- The default (ApplicationInsights) mode has no OTLP exporter: nothing of the host's arrives.
"""

from __future__ import annotations

import json
import shutil
import threading
from collections.abc import Iterator
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path
from typing import Any

import pytest
from opentelemetry.proto.collector.logs.v1.logs_service_pb2 import ExportLogsServiceRequest
from opentelemetry.proto.collector.trace.v1.trace_service_pb2 import ExportTraceServiceRequest

from devhost.host import telemetry
from devhost.host.logs import otlp_log_category_exported
from tests.devhost.support import APPS, http
from tests.hosting import start

pytestmark = pytest.mark.host


class Collector:
    """A loopback OTLP/HTTP receiver (protobuf bodies, as the OTLP/HTTP exporter posts)."""

    def __init__(self) -> None:
        self.spans: list[Any] = []
        self.logs: list[Any] = []
        self.resources: list[dict[str, str]] = []
        collector = self

        class Handler(BaseHTTPRequestHandler):
            def do_POST(self) -> None:  # noqa: N802 (http.server's name)
                body = self.rfile.read(int(self.headers.get("Content-Length", 0)))
                if self.path == "/v1/traces":
                    traces = ExportTraceServiceRequest.FromString(body)
                    for resource in traces.resource_spans:
                        collector.resources.append(_attributes(resource.resource.attributes))
                        collector.spans += [s for scope in resource.scope_spans
                                            for s in scope.spans]
                elif self.path == "/v1/logs":
                    logs = ExportLogsServiceRequest.FromString(body)
                    collector.logs += [r for resource in logs.resource_logs
                                       for scope in resource.scope_logs
                                       for r in scope.log_records]
                self.send_response(200)
                self.send_header("Content-Type", "application/x-protobuf")
                self.send_header("Content-Length", "0")
                self.end_headers()

            def log_message(self, *args: Any) -> None:
                pass

        self.server = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
        self.endpoint = f"http://127.0.0.1:{self.server.server_address[1]}"
        threading.Thread(target=self.server.serve_forever, daemon=True).start()

    def close(self) -> None:
        self.server.shutdown()
        self.server.server_close()


def _attributes(attributes: Any) -> dict[str, str]:
    return {a.key: a.value.string_value or str(a.value.int_value) for a in attributes}


@pytest.fixture
def collector() -> Iterator[Collector]:
    receiver = Collector()
    yield receiver
    receiver.close()


def _app_dir(tmp_path: Path, mode: str | None, v2: bool) -> Path:
    app_dir = tmp_path / "app"
    app_dir.mkdir()
    shutil.copy(APPS / "otlp_app.py", app_dir / "otlp_app.py")
    host_json: dict[str, Any] = {"version": "2.0"}
    if v2:
        host_json["extensions"] = {"durableTask": {"tracing": {
            "distributedTracingEnabled": True, "version": "V2"}}}
    if mode:
        host_json["telemetryMode"] = mode
    (app_dir / "host.json").write_text(json.dumps(host_json))
    return app_dir


def _run(tmp_path: Path, collector: Collector, mode: str | None, v2: bool
         ) -> tuple[str, str]:
    """Runs a request and an orchestration; returns the traceparent the HTTP function got
    and devhost's console."""
    host = start(tmp_path, _app_dir(tmp_path, mode, v2), "otlp_app",
                 OTEL_EXPORTER_OTLP_ENDPOINT=collector.endpoint, OTEL_SERVICE_NAME="otlp-test")
    try:
        status, body, _ = http("GET", f"{host.base}/api/ping")
        assert status == 200, body
        assert host.run("greeting")["runtimeStatus"] == "Completed"
    finally:
        console = host.stop()
    return (body.decode() if isinstance(body, bytes) else str(body)), console


def test_open_telemetry_mode_exports_requests_durable_spans_and_logs(
        tmp_path: Path, collector: Collector) -> None:
    # No Durable V2 switch in host.json; Enum.TryParse ignores case.
    traceparent, console = _run(tmp_path, collector, "openTelemetry", v2=False)
    assert f"Telemetry: OTLP at {collector.endpoint} (the app's, and the host's" in console
    # Traces: the HTTP trigger's request and DurableTask.Core's spans of the run.
    names = sorted(s.name for s in collector.spans)
    assert names == ["activity:greet", "activity:greet", "create_orchestration:greeting",
                     "orchestration:greeting", "ping"], names
    # The worker runs under that request, which the host's OpenTelemetry SDK recorded.
    request = next(s for s in collector.spans if s.name == "ping")
    assert traceparent == f"00-{request.trace_id.hex()}-{request.span_id.hex()}-01"
    assert collector.resources[0]["service.name"] == "otlp-test"
    # Logs: Executing/Executed of each invocation (replays included) and the user's logs.
    rows = [(_attributes(r.attributes)["Category"], r.body.string_value)
            for r in collector.logs]
    categories = {category for category, _ in rows}
    assert {"Function.ping", "Function.greeting", "Function.greet", "Function.ping.User",
            "Function.greet.User"} <= categories, rows
    assert any(text.startswith("Executed 'Functions.greet' (Succeeded")
               for _, text in rows), rows
    assert ("Function.greet.User", "greeting Ana") in rows
    assert ("Function.ping.User", "ping called") in rows


def test_default_mode_exports_nothing_of_the_hosts_over_otlp(
        tmp_path: Path, collector: Collector) -> None:
    traceparent, console = _run(tmp_path, collector, None, v2=True)
    assert f"Telemetry: OTLP at {collector.endpoint}, the app's only" in console
    assert collector.spans == [] and collector.logs == []
    assert traceparent.endswith("-00")  # the classic SDK never sets Recorded


def test_worker_with_opentelemetry_silences_the_function_categories(
        monkeypatch: pytest.MonkeyPatch) -> None:
    """The AddFilter<OpenTelemetryLoggerProvider> rule for `Function.*`, once a worker reports
    WorkerOpenTelemetryEnabled (GrpcWorkerChannel sets ScriptHost.WorkerOpenTelemetryEnabled)."""
    monkeypatch.setattr(telemetry, "worker_opentelemetry_enabled", False)
    assert otlp_log_category_exported("Function.greet")
    telemetry.note_worker_capabilities({"WorkerOpenTelemetryEnabled": "false"})
    assert otlp_log_category_exported("Function.greet")
    telemetry.note_worker_capabilities({"WorkerOpenTelemetryEnabled": "true"})
    for dropped in ("Function.greet", "Function.greet.User"):
        assert not otlp_log_category_exported(dropped), dropped
    assert otlp_log_category_exported("Host.Triggers.DurableTask")
    assert otlp_log_category_exported("Microsoft.Azure.WebJobs.Host")


def test_some_categories_never_reach_otlp(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(telemetry, "worker_opentelemetry_enabled", False)
    for dropped in ("Host.Results", "Host.Aggregator", "Azure.Core.Http"):
        assert not otlp_log_category_exported(dropped), dropped


def test_telemetry_mode_is_read_like_enum_try_parse(tmp_path: Path,
                                                    monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(telemetry, "_mode", telemetry.telemetry_mode())
    for value, mode in (('"OPENTELEMETRY"', "OpenTelemetry"), ('"2"', "OpenTelemetry"),
                        ('"none"', "ApplicationInsights"), ('"bogus"', "ApplicationInsights")):
        (tmp_path / "host.json").write_text(f'{{"version": "2.0", "telemetryMode": {value}}}')
        assert telemetry.configure_telemetry_mode(tmp_path) == mode, value
    (tmp_path / "host.json").write_text('{"version": "2.0"}')
    assert telemetry.configure_telemetry_mode(tmp_path) == "ApplicationInsights"
