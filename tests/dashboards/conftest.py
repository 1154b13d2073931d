"""Tables captured from real devhost runs: a happy run of function_app.py and a run whose
inventory activity fails, both exported by the real Azure Monitor exporter."""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path
from typing import Any

import pytest

from devhost.insights.ingest import IngestionServer

REPO = Path(__file__).resolve().parents[2]
HERE = Path(__file__).resolve().parent


def _call(app: str, app_dir: Path, data_dir: Path, connection_string: str) -> dict[str, Any]:
    env = {k: v for k, v in os.environ.items() if not k.startswith(("OTEL_", "TELEMETRY_"))}
    env.update(APPLICATIONINSIGHTS_CONNECTION_STRING=connection_string,
               PYTHONPATH=os.pathsep.join([str(REPO), str(HERE)]), HTTP_AUTH_LEVEL="anonymous",
               TELEMETRY_CONSOLE_LOGS="false")
    proc = subprocess.run(
        [sys.executable, "-m", "devhost", "call", "POST",
         "/api/start-sub-orchestration?code=not-a-real-key",
         "--app", app, "--app-dir", str(app_dir), "--data-dir", str(data_dir)],
        cwd=REPO, env=env, capture_output=True, text=True, timeout=120)
    decoder = json.JSONDecoder()
    text = proc.stdout.strip()
    first, end = decoder.raw_decode(text)
    final, _ = decoder.raw_decode(text[end:].strip())
    return {"returncode": proc.returncode, "final": final, "stderr": proc.stderr}


@pytest.fixture(scope="session")
def insights_db(tmp_path_factory: pytest.TempPathFactory) -> dict[str, Any]:
    """The captured DuckDB file plus the two runs' final statuses."""
    tmp = Path(tmp_path_factory.mktemp("dashboards"))
    with IngestionServer(tmp / "insights.duckdb") as server:
        happy = _call("function_app", REPO, tmp / "happy", server.connection_string)
        failed = _call("failing_app", HERE, tmp / "failed", server.connection_string)
    assert happy["final"]["runtimeStatus"] == "Completed", happy
    assert failed["final"]["runtimeStatus"] == "Failed", failed
    return {"db": server.store.path, "happy": happy["final"], "failed": failed["final"]}
