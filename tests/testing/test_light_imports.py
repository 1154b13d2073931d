"""What an import costs, checked in a fresh interpreter (this one has loaded everything).

`devhost.testing` is imported by every pytest session of every project that installs devhost
(the `pytest11` entry point), and it only talks HTTP to a devhost subprocess: it must load
no OpenTelemetry SDK, no exporter, no DuckDB and no gRPC/protobuf. `telemetry` depends on the
OpenTelemetry API only until `configure()` loads the SDK and the exporter it chose, as
OpenTelemetry's own instrumentations leave the SDK to the application.
"""

from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path

import pytest

REPO = Path(__file__).resolve().parents[2]
SDK_AND_EXPORTERS = ("opentelemetry.sdk", "azure.monitor", "opentelemetry.exporter")
HEAVY = (*SDK_AND_EXPORTERS, "duckdb", "grpc", "google.protobuf")

pytestmark = pytest.mark.host  # each probe is a fresh interpreter


def loaded_after(statement: str) -> list[str]:
    """Modules a fresh interpreter holds after `statement`."""
    probe = f"import json, sys\n{statement}\nprint(json.dumps(sorted(sys.modules)))"
    result = subprocess.run([sys.executable, "-c", probe], cwd=REPO, capture_output=True,
                            text=True, timeout=60, check=True)
    return list(json.loads(result.stdout))


def heavy(modules: list[str], packages: tuple[str, ...] = HEAVY) -> list[str]:
    return [m for m in modules if any(m == p or m.startswith(p + ".") for p in packages)]


@pytest.mark.parametrize("statement", ["import devhost.testing",
                                       "import devhost.testing.plugin"])
def test_the_pytest_plugin_loads_no_sdk_exporter_duckdb_or_grpc(statement: str) -> None:
    assert heavy(loaded_after(statement)) == []


def test_the_probe_sees_a_heavy_import() -> None:
    assert "duckdb" in heavy(loaded_after("import duckdb"))


def test_telemetry_loads_the_api_only_until_configure(tmp_path: Path) -> None:
    assert heavy(loaded_after("import telemetry"), SDK_AND_EXPORTERS) == []
    configured = loaded_after(f"import os\nos.environ['TELEMETRY_LOCAL_DIR'] = {str(tmp_path)!r}\n"
                              "os.environ['TELEMETRY_CONSOLE_LOGS'] = 'false'\n"
                              "import telemetry\ntelemetry.configure()")
    assert "opentelemetry.sdk.trace" in heavy(configured, SDK_AND_EXPORTERS)
