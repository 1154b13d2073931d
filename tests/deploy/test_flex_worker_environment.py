"""The app's logs under the Functions host on Flex Consumption, where FUNCTIONS_WORKER_RUNTIME
cannot be an app setting. What the worker process certainly holds is what the host sets on
every language worker it starts: FUNCTIONS_WORKER_DIRECTORY and FUNCTIONS_APPLICATION_DIRECTORY
(azure-functions-host v4.1036.2 src/WebJobs.Script/Workers/Rpc/RpcWorkerProcess.cs,
CreateWorkerProcess); FUNCTIONS_WORKER_RUNTIME reaches it only if the host's own environment
has it (DefaultWorkerProcessFactory copies the host's environment)."""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path

import pytest

from telemetry.logs import HOST_SIGNALS, under_functions_host

from .requirements import REPO

# A worker process as the host starts it: its root logger has the handler that sends each
# record to the host as an RpcLog (azure-functions-runtime); a capture stands in for it.
WORKER = """
import json, logging
forwarded = []
class ToHost(logging.Handler):
    def emit(self, record):
        forwarded.append(record.getMessage())
root = logging.getLogger()
root.addHandler(ToHost())
root.setLevel(logging.INFO)
from telemetry import logs
logs.setup()
logs.get_logger().info("synced once")
print(json.dumps(forwarded))
"""


def test_the_host_is_recognised_by_any_signal_it_sets() -> None:
    assert not under_functions_host({})
    assert not under_functions_host({"TELEMETRY_CONSOLE_LOGS": "true"})
    for name in HOST_SIGNALS:
        assert under_functions_host({name: "x"}), name


@pytest.mark.host
def test_on_flex_logs_are_forwarded_once_and_not_printed(tmp_path: Path) -> None:
    """Only the host-set signals, no FUNCTIONS_WORKER_RUNTIME: each record reaches the
    worker's handler to the host exactly once, and nothing is printed on the worker's
    console (which the host would log a second time)."""
    env = {k: v for k, v in os.environ.items()
           if k not in HOST_SIGNALS and not k.startswith(("TELEMETRY_", "OTEL_"))}
    env.update(FUNCTIONS_WORKER_DIRECTORY="/azure-functions-host/workers/python/3.13/LINUX/X64",
               FUNCTIONS_APPLICATION_DIRECTORY=str(tmp_path), PYTHONPATH=str(REPO))
    done = subprocess.run([sys.executable, "-c", WORKER], cwd=tmp_path, env=env,
                          capture_output=True, text=True, timeout=60)
    assert done.returncode == 0, done.stderr
    *printed, forwarded = done.stdout.strip().splitlines()
    assert json.loads(forwarded) == ["synced once"]
    assert "synced once" not in done.stderr and not printed, (printed, done.stderr)
