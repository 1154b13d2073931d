"""Helpers to run the recipe on devhost inside the test process, with in-memory exporters."""

from __future__ import annotations

import time
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import Any

from opentelemetry.sdk._logs.export import InMemoryLogRecordExporter
from opentelemetry.sdk.trace.export.in_memory_span_exporter import InMemorySpanExporter

import telemetry
from devhost.durable.engine import Engine
from devhost.durable.store import Store
from devhost.functions.app import AppIndex, load_app
from devhost.server import BackgroundHost, HostServer
from tests.devhost.conftest import http

REPO = Path(__file__).resolve().parents[1]
STARTER = "/api/start-sub-orchestration"

_SPANS = InMemorySpanExporter()
_LOGS = InMemoryLogRecordExporter()


def recipe_index() -> AppIndex:
    index = load_app("function_app", REPO)
    telemetry.configure(span_exporter=_SPANS, log_exporter=_LOGS)
    return index


@contextmanager
def recipe_host(tmp: Path) -> Iterator[BackgroundHost]:
    index = recipe_index()
    with BackgroundHost(HostServer(index, Engine(index, Store(tmp / "durable.sqlite")),
                                   port=0)) as host:
        yield host


@contextmanager
def captured() -> Iterator[tuple[InMemorySpanExporter, InMemoryLogRecordExporter]]:
    _SPANS.clear()
    _LOGS.clear()
    yield _SPANS, _LOGS


def start_and_wait(host: BackgroundHost, body: Any = None, raw: bytes | None = None,
                   timeout: float = 20) -> tuple[dict[str, Any], dict[str, Any]]:
    status, started, _ = http("POST", host.base_url + STARTER, body=body, raw=raw)
    assert status == 202, started
    deadline = time.monotonic() + timeout
    while True:
        _, final, _ = http("GET", started["statusQueryGetUri"])
        if final["runtimeStatus"] not in ("Pending", "Running"):
            return started, final
        assert time.monotonic() < deadline, final
        time.sleep(0.02)
