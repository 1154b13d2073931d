"""Helpers shared by devhost's own tests (imported, never a conftest): the test apps'
folder, a free port, plain HTTP, polling for a condition, and the semantics app on a
background host."""

from __future__ import annotations

import json
import os
import socket
import time
import urllib.error
import urllib.request
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any

from devhost.cli.start import host_server, load_app
from devhost.durable.engine import Engine
from devhost.durable.extension import DurableExtension
from devhost.durable.store import Store
from devhost.host.server import BackgroundHost

APPS = Path(__file__).resolve().parent / "apps"


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


def http(method: str, url: str, body: Any = None, raw: bytes | None = None,
         headers: dict[str, str] | None = None, timeout: float = 30
         ) -> tuple[int, Any, dict[str, str]]:
    data = raw if raw is not None else (None if body is None else json.dumps(body).encode())
    request = urllib.request.Request(url, data=data, method=method, headers=headers or {})
    try:
        with urllib.request.urlopen(request, timeout=timeout) as response:
            status, payload, head = response.status, response.read(), dict(response.headers)
    except urllib.error.HTTPError as err:
        status, payload, head = err.code, err.read(), dict(err.headers)
    text = payload.decode() if payload else ""
    try:
        parsed: Any = json.loads(text) if text else None
    except json.JSONDecodeError:
        parsed = text
    return status, parsed, head


def until(check: Callable[[], Any], timeout: float = 15) -> Any:
    """Poll `check` until it returns something truthy, and return that."""
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        value = check()
        if value:
            return value
        time.sleep(0.05)
    raise AssertionError("condition not met in time")


def start_and_wait(url: str, body: Any = None, headers: dict[str, str] | None = None,
                   timeout: float = 30) -> tuple[dict[str, Any], dict[str, Any]]:
    """POST to an HTTP starter (202), then poll its statusQueryGetUri until the run has ended:
    the 202's body and the final status."""
    status, started, _ = http("POST", url, body=body, headers=headers)
    assert status == 202, started

    def ended() -> dict[str, Any] | None:
        reply: dict[str, Any] = http("GET", started["statusQueryGetUri"])[1]
        return reply if reply["runtimeStatus"] not in ("Pending", "Running") else None

    return started, until(ended, timeout)


def engine_of(host: BackgroundHost) -> Engine:
    """The engine a background host runs: its Durable extension's."""
    return next(extension.engine for extension in host.server.extensions
                if isinstance(extension, DurableExtension))


def serve_semantics_app(tmp_path_factory: Any) -> Iterator[BackgroundHost]:
    """devhost's test app on a background host (a module's `host` fixture), workers stopped
    after."""
    os.environ.setdefault("SEMANTICS_ATTEMPTS_DIR", str(tmp_path_factory.mktemp("attempts")))
    index = load_app("semantics_app", APPS)
    store = Store(Path(tmp_path_factory.mktemp("store")) / "durable.sqlite")
    try:
        with BackgroundHost(host_server(index, Engine(index, store), port=0)) as background:
            yield background
    finally:
        index.workers.stop()
