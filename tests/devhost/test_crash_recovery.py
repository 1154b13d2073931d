"""kill -9 of a real devhost process mid-flight, then a restart on the same store."""

from __future__ import annotations

import os
import signal
import subprocess
import time
from pathlib import Path
from typing import Any

import pytest

from tests.hosting import devhost_env, launch

from .support import APPS, free_port, http, until

pytestmark = pytest.mark.host

REPO = Path(__file__).resolve().parents[2]
CHILDREN = 80  # at 0.1 s each on the worker's 6 threads: over a second of work


def _start(data_dir: Path, port: int, attempts: Path) -> subprocess.Popen[bytes]:
    return launch(APPS, "semantics_app", data_dir, port, data_dir.parent / "devhost.log",
                  devhost_env(SEMANTICS_ATTEMPTS_DIR=str(attempts)))


@pytest.mark.slow
def test_sigkill_mid_flight_then_restart_completes_every_instance(tmp_path: Path) -> None:
    port = free_port()
    base = f"http://127.0.0.1:{port}"
    proc = _start(tmp_path / "data", port, tmp_path / "attempts")
    try:
        # Enough children to be mid-flight at the kill; paging of the instance list has its
        # own test (tests/devhost/durable/test_api.py), so one page of them is enough here.
        _, fan, _ = http("POST", f"{base}/api/orchestrators/napping_children", CHILDREN)
        _, retry, _ = http("POST", f"{base}/api/orchestrators/retrying", "crash-key")
        _, timer, _ = http("POST", f"{base}/api/orchestrators/timer_then_activity", 1.5)
        # Mid-flight: children of the fan-out have finished (others are napping or queued),
        # the flaky activity failed its first attempt, the timer is set.
        until(lambda: any(c["runtimeStatus"] == "Completed" for c in http(
            "GET", f"{base}/runtime/webhooks/durabletask/instances"
                   f"?instanceIdPrefix={fan['id']}:")[1]))
        until((tmp_path / "attempts" / "crash-key").exists)
        until(lambda: http("GET", timer["statusQueryGetUri"])[1]["runtimeStatus"] == "Running")
        status, before, _ = http("GET", fan["statusQueryGetUri"])
        assert status == 202 and before["runtimeStatus"] == "Running"
    finally:
        os.kill(proc.pid, signal.SIGKILL)
        proc.wait()
    proc = _start(tmp_path / "data", port, tmp_path / "attempts")
    try:
        results = {}
        for name, started in (("fan", fan), ("retry", retry), ("timer", timer)):
            uri = started["statusQueryGetUri"]
            deadline = time.monotonic() + 60
            while (body := http("GET", uri)[1])["runtimeStatus"] in ("Pending", "Running"):
                assert time.monotonic() < deadline, body
                time.sleep(0.1)
            results[name] = body
        assert results["fan"]["runtimeStatus"] == "Completed"
        assert results["fan"]["output"] == sum(i * 2 for i in range(CHILDREN))
        assert results["retry"]["output"] == {"first": "crash-key ok after 3", "second": 42}
        assert results["timer"]["output"] == 10
        children: list[dict[str, Any]] = []
        token = ""
        while True:  # pages of 100 (OrchestrationStatusQueryCondition.PageSize)
            _, page, head = http(
                "GET", f"{base}/runtime/webhooks/durabletask/instances"
                       f"?instanceIdPrefix={fan['id']}:",
                headers={"x-ms-continuation-token": token} if token else {})
            children += page
            if not (token := head["x-ms-continuation-token"]):
                break
        assert len(children) == CHILDREN
        assert {c["runtimeStatus"] for c in children} == {"Completed"}
    finally:
        proc.send_signal(signal.SIGTERM)
        proc.wait(20)
