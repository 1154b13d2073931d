"""devhost's own exporter stays out of the app's way, as the host's does on Azure (another
process): an app without OpenTelemetry gets no exporter traceback (the Azure Monitor
exporter reads the resource from the tracer provider it is given, else the global one —
AzureMonitorTraceExporter.export — which is only a proxy in such an app), and the Azure SDK's
HTTP log lines of devhost's exports never reach the app's loggers."""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

import pytest

from ..support import APPS

pytestmark = pytest.mark.host

REPO = Path(__file__).resolve().parents[3]


def test_app_without_opentelemetry_sees_no_host_exporter_output(tmp_path: Path) -> None:
    env = dict(os.environ, PYTHONPATH=str(REPO))
    env.pop("APPLICATIONINSIGHTS_CONNECTION_STRING", None)
    result = subprocess.run(
        [sys.executable, "-m", "devhost", "run", "greeting", "--input", '"Ana"', "--app",
         "plain_logging_app", "--app-dir", str(APPS), "--data-dir", str(tmp_path / "data"),
         "--tree"], cwd=REPO, env=env, capture_output=True, text=True, timeout=120)
    assert result.returncode == 0, result.stderr
    # The app runs in the worker process, whose root handler sends its records to the host
    # (RpcLog), which prints them: the app's log is there, the host exporter's are not.
    output = result.stdout + result.stderr
    assert "] greeting Ana" in output
    assert "Traceback" not in result.stderr and "ProxyTracerProvider" not in result.stderr
    assert "azure.core" not in output and "azure.monitor" not in output
    # ...and the host's rows did reach local insights.
    assert "activity:greet" in result.stdout
