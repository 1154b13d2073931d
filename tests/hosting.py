"""`python -m devhost start` in its own process, as a user runs it, for tests that read what
the app and the host exported (the app runs in devhost's worker process, not in the tests)."""

from __future__ import annotations

import os
import signal
import subprocess
import sys
import time
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from tests.devhost.support import free_port, http

REPO = Path(__file__).resolve().parents[1]
API = "/runtime/webhooks/durabletask"


@dataclass
class Host:
    proc: subprocess.Popen[bytes]
    base: str
    data_dir: Path
    log: Path

    def run(self, orchestrator: str, timeout: float = 60) -> dict[str, Any]:
        # Started under a sampled caller span, as the SDK's client does inside one: an
        # orchestration started without one is not sampled (devhost/durable/engine.py).
        caller = f"00-{os.urandom(16).hex()}-{os.urandom(8).hex()}-01"
        status, started, _ = http("POST", f"{self.base}{API}/orchestrators/{orchestrator}",
                                  headers={"traceparent": caller})
        assert status == 202, started
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            _, body, _ = http("GET", started["statusQueryGetUri"])
            if body["runtimeStatus"] not in ("Pending", "Running"):
                return dict(body)
            time.sleep(0.05)
        raise AssertionError(f"{orchestrator} did not finish")

    def stop(self) -> str:
        self.proc.send_signal(signal.SIGTERM)
        self.proc.wait(30)
        return self.log.read_text(errors="replace")


def devhost_env(**extra: str) -> dict[str, str]:
    env = {k: v for k, v in os.environ.items()
           if not k.startswith(("OTEL_", "TELEMETRY_", "APPLICATIONINSIGHTS_"))}
    env.update(PYTHONPATH=str(REPO), DEVHOST_SYNC_EXPORT="true", **extra)
    return env


def launch(app_dir: Path, app: str, data_dir: Path, port: int, log: Path, env: dict[str, str],
           *args: str) -> subprocess.Popen[bytes]:
    """Start `devhost start` and return once its management API answers. Output goes to a
    file, not a pipe: the child never blocks on a full pipe."""
    with log.open("ab") as out:
        proc = subprocess.Popen(
            [sys.executable, "-m", "devhost", "start", "--app", app, "--app-dir", str(app_dir),
             "--data-dir", str(data_dir), "--port", str(port), *args],
            cwd=REPO, env=env, stdout=out, stderr=subprocess.STDOUT)
    deadline = time.monotonic() + 60
    while time.monotonic() < deadline:
        try:
            if http("GET", f"http://127.0.0.1:{port}{API}/instances", timeout=1)[0] == 200:
                return proc
        except OSError:
            pass
        assert proc.poll() is None, log.read_text(errors="replace")
        time.sleep(0.1)
    proc.kill()
    raise AssertionError("devhost did not start")


def start(tmp: Path, app_dir: Path, app: str = "function_app", *args: str, **env: str) -> Host:
    port = free_port()
    log = tmp / "devhost.log"
    proc = launch(app_dir, app, tmp / "data", port, log, devhost_env(**env), *args)
    return Host(proc, f"http://127.0.0.1:{port}", tmp / "data", log)
