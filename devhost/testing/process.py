"""Start and stop the devhost process behind a `durable_app`, and talk to it over HTTP.

Each fixture gets its own process: a fresh import of the app (its telemetry configured from
scratch, settings read at import included), a fresh `.devhost` data dir, its own engine and
its own local Application Insights. Nothing of devhost that runs an app is imported into the
test process: only the standard-library helpers that answer what the host would
(devhost/host/loopback.py, devhost/host/connectionstring.py), so the plugin every pytest
session loads stays light (tests/testing/test_light_imports.py).
"""

from __future__ import annotations

import json
import os
import signal
import subprocess
import sys
import time
import urllib.error
import urllib.parse
import urllib.request
from dataclasses import dataclass, field
from email.message import Message
from pathlib import Path
from typing import Any

from devhost.host.connectionstring import ingestion_endpoint
from devhost.host.loopback import is_loopback

STARTUP_TIMEOUT_S = 60.0
# Telemetry the app might send elsewhere is captured locally instead: the host starts its
# local ingestion endpoint only when these are empty (an empty variable beats
# local.settings.json, as in `func start`). A test may point them at an endpoint of its own
# on loopback (a backend that is down or failing): then nothing is captured locally.
CAPTURED_LOCALLY = ("APPLICATIONINSIGHTS_CONNECTION_STRING", "OTEL_EXPORTER_OTLP_ENDPOINT")
LOOPBACK_EXAMPLES = "127.0.0.1, localhost, ::1"
LOG_NAME = "devhost.log"  # the process's stdout and stderr


class DevhostError(Exception):
    """The devhost process could not start, or refused a request (its message says why)."""


@dataclass(frozen=True)
class HostSpec:
    app_dir: Path
    module: str = "function_app"
    skip_timers: bool = True
    settings: dict[str, str] = field(default_factory=dict)


@dataclass(frozen=True)
class Response:
    """An HTTP answer; `headers` matches names case-insensitively, as HTTP does."""

    status: int
    headers: Message
    text: str

    def json(self) -> Any:
        return json.loads(self.text) if self.text else None


def console(data_dir: Path) -> str:
    """Everything the devhost process of this data dir and its workers printed."""
    try:
        return (data_dir / LOG_NAME).read_text(encoding="utf-8", errors="replace")
    except FileNotFoundError:
        return ""


def endpoint_host(key: str, value: str) -> str:
    """The host a telemetry setting sends to, as the exporter reads it (a connection string
    without IngestionEndpoint sends to Azure's default); "" when it names none."""
    url: str | None = value
    if key == "APPLICATIONINSIGHTS_CONNECTION_STRING":
        url = ingestion_endpoint(value)
    try:
        return (urllib.parse.urlsplit(url or "").hostname or "").lower()
    except ValueError:  # not a URL
        return ""


def request(method: str, url: str, body: bytes | None = None,
            headers: dict[str, str] | None = None, timeout: float = 120) -> Response:
    req = urllib.request.Request(url, data=body, method=method, headers=headers or {})
    try:
        with urllib.request.urlopen(req, timeout=timeout) as reply:
            return Response(reply.status, reply.headers,
                            reply.read().decode("utf-8", "replace"))
    except urllib.error.HTTPError as err:
        return Response(err.code, err.headers, err.read().decode("utf-8", "replace"))


class HostProcess:
    def __init__(self, spec: HostSpec, data_dir: Path) -> None:
        self.spec = spec
        self.data_dir = data_dir
        self.log_path = data_dir / LOG_NAME
        self.base_url = ""
        self._proc: subprocess.Popen[bytes] | None = None

    def _env(self) -> dict[str, str]:
        env = dict(os.environ)
        for key in CAPTURED_LOCALLY:
            env[key] = ""
        env.update(self.spec.settings)
        for key in CAPTURED_LOCALLY:
            value = env.get(key, "").strip()
            if key == "APPLICATIONINSIGHTS_CONNECTION_STRING" and value and \
                    ingestion_endpoint(value) is None:
                raise DevhostError(f"setting {key} is not a connection string the Azure "
                                   f"Monitor exporter accepts (key=value pairs separated by "
                                   f"';', no empty pair), got {value!r}")
            if value and not is_loopback(endpoint_host(key, value)):
                raise DevhostError(f"setting {key} may point only at loopback "
                                   f"({LOOPBACK_EXAMPLES}) in a durable_app test (tests "
                                   f"send telemetry nowhere else), got {value!r}")
        return env

    def start(self) -> None:
        self.data_dir.mkdir(parents=True, exist_ok=True)
        ready = self.data_dir / "devhost.ready.json"
        ready.unlink(missing_ok=True)
        command = [sys.executable, "-m", "devhost.testing._host",
                   "--app", self.spec.module, "--app-dir", str(self.spec.app_dir),
                   "--data-dir", str(self.data_dir), "--ready-file", str(ready)]
        if self.spec.skip_timers:
            command.append("--skip-timers")
        with open(self.log_path, "wb") as log:
            self._proc = subprocess.Popen(command, cwd=self.spec.app_dir, env=self._env(),
                                          stdout=log, stderr=subprocess.STDOUT)
        deadline = time.monotonic() + STARTUP_TIMEOUT_S
        while not ready.exists():
            if self._proc.poll() is not None:
                raise DevhostError(f"devhost could not start the app {self.spec.module!r} from "
                                   f"{self.spec.app_dir}:\n{self.log_tail()}")
            if time.monotonic() > deadline:
                self.stop()
                raise DevhostError(f"devhost did not start within {STARTUP_TIMEOUT_S:.0f} s:\n"
                                   f"{self.log_tail()}")
            time.sleep(0.02)
        self.base_url = json.loads(ready.read_text(encoding="utf-8"))["base_url"]

    def log_tail(self, lines: int = 40) -> str:
        try:
            text = self.log_path.read_text(encoding="utf-8", errors="replace")
        except FileNotFoundError:
            return ""
        return "\n".join(text.splitlines()[-lines:])

    def stop(self) -> None:
        proc, self._proc = self._proc, None
        if proc is None or proc.poll() is not None:
            return
        proc.send_signal(signal.SIGTERM)  # graceful: the host flushes its telemetry
        try:
            proc.wait(15)
        except subprocess.TimeoutExpired:
            proc.kill()
            proc.wait(5)

    def call(self, method: str, path: str, payload: Any = None, timeout: float = 120) -> Any:
        """A testing route: JSON in, JSON out; an error answer becomes a DevhostError."""
        body = None if payload is None else json.dumps(payload).encode()
        reply = request(method, self.base_url + path, body,
                        {"Content-Type": "application/json"}, timeout)
        parsed = reply.json()
        if reply.status >= 400:
            message = parsed.get("error") if isinstance(parsed, dict) else reply.text
            raise DevhostError(f"{message} ({method} {path}: HTTP {reply.status})")
        return parsed
