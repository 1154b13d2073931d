"""The host's request row for an HTTP-triggered invocation (Microsoft.Azure.WebJobs.Logging
.ApplicationInsights WebJobsTelemetryInitializer.UpdateRequestProperties / TryApplyProperty,
ApplicationInsightsLogger.ApplyFunctionResultActivityTags), exported by devhost's host
pipeline into local insights."""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path

import pytest

from devhost.insights.ingest import IngestionServer
from devhost.insights.query import run_kql

from ..support import APPS

pytestmark = pytest.mark.host

REPO = Path(__file__).resolve().parents[3]


def test_failed_http_function_row(tmp_path: Path) -> None:
    """Named after the function, URL without its query, success = the function's outcome
    (Succeeded), resultCode the HTTP status, function result tags as dimensions."""
    with IngestionServer(tmp_path / "insights.duckdb") as server:
        env = {**{k: v for k, v in os.environ.items() if not k.startswith(("OTEL_", "TELEMETRY_"))},
               "APPLICATIONINSIGHTS_CONNECTION_STRING": server.connection_string,
               "PYTHONPATH": str(REPO), "SEMANTICS_ATTEMPTS_DIR": str(tmp_path / "a")}
        proc = subprocess.run(
            [sys.executable, "-m", "devhost", "call", "GET", "/api/boom?code=secret-key",
             "--app", "semantics_app", "--app-dir", str(APPS), "--data-dir", str(tmp_path / "d")],
            cwd=REPO, env=env, capture_output=True, text=True, timeout=120)
        assert "500" in proc.stdout + proc.stderr, proc.stdout + proc.stderr
    _, rows = run_kql(server.store.path, "requests | project name, url, success, resultCode, "
                                         "customDimensions")
    [(name, url, success, code, dims)] = rows
    dims = json.loads(dims)
    assert (name, success, code) == ("boom", False, "500")
    assert url.endswith("/api/boom") and "secret" not in url
    assert dims["FullName"] == "Functions.boom" and dims["LogLevel"] == "Error"
    assert dims["TriggerReason"] == "This function was programmatically called via the host APIs."
    assert dims["HttpMethod"] == "GET" and dims["HttpPath"] == "/api/boom"
