"""The host drives its extensions through devhost/host/extensions.py only (WebJobs'
IExtensionConfigProvider): initialized when the host is built, stopped in the reverse order of
their start within one shutdown timeout, asked to describe the functions they run. No worker,
no socket: the host is never started here."""

from __future__ import annotations

import asyncio
from collections.abc import Callable, Mapping
from typing import Any

from aiohttp import web

from devhost.host import typed
from devhost.host.app import AppIndex
from devhost.host.extensions import ExtensionHost, InputBinding
from devhost.host.metadata import Binding, FunctionInfo
from devhost.host.server import HostServer


class Recorder:
    def __init__(self, name: str, calls: list[str], clean: bool = True) -> None:
        self.name = name
        self.calls = calls
        self.clean = clean
        self.host: ExtensionHost | None = None

    trigger_types = frozenset({"fakeTrigger"})

    def initialize(self, host: ExtensionHost) -> None:
        self.host = host

    def input_bindings(self) -> Mapping[str, InputBinding]:
        return {"fakeClient": lambda _fn: typed.string("value")}

    def add_routes(self, app: web.Application) -> None:
        pass

    def describe(self, fn: FunctionInfo) -> str | None:
        return f"fakeTrigger  (by {self.name})"

    def banner_lines(self) -> list[str]:
        return [f"{self.name} endpoint"]

    async def start(self) -> None:
        self.calls.append(f"start {self.name}")

    async def drain(self, timeout: float, report: Callable[[str], None]) -> bool:
        self.calls.append(f"drain {self.name}")
        return self.clean

    async def stop(self) -> None:
        self.calls.append(f"stop {self.name}")

    def close(self) -> None:
        self.calls.append(f"close {self.name}")


def _fn(name: str, trigger_type: str, *others: Binding) -> FunctionInfo:
    trigger = Binding(trigger_type, "t", "in", {})
    return FunctionInfo(name, name, trigger, (trigger, *others))


def test_extensions_are_initialized_and_shut_down_in_reverse_order() -> None:
    calls: list[str] = []
    first, second = Recorder("first", calls), Recorder("second", calls, clean=False)
    server = HostServer(AppIndex("app.py"), [first, second], port=0)
    assert first.host is server and second.host is server
    assert asyncio.run(server.drain(1.0, lambda _line: None)) is False  # one was cut off
    asyncio.run(server.stop())
    server.close()
    assert calls == ["drain second", "drain first", "stop second", "stop first",
                     "close first", "close second"]
    assert server.draining


def test_banner_asks_the_extension_that_runs_the_trigger() -> None:
    calls: list[str] = []
    functions = [_fn("mine", "fakeTrigger", Binding("fakeClient", "c", "in", {})),
                 _fn("unknown", "queueTrigger"),
                 _fn("needs_queue", "fakeTrigger", Binding("queue", "q", "out", {}))]
    server = HostServer(AppIndex("app.py", functions), [Recorder("ext", calls)], port=0)
    text = server.banner([])
    lines = text.splitlines()
    assert "        mine: fakeTrigger  (by ext)" in lines
    assert ("        unknown: queueTrigger  NOT RUN by devhost: this trigger needs its Azure "
            "service") in lines
    assert ("        needs_queue: fakeTrigger  (by ext)  NOT RUNNABLE by devhost: binding queue "
            "needs its Azure service") in lines
    assert text.endswith("service\n\next endpoint\n")  # after the list, a blank line apart


def test_input_bindings_come_from_the_extensions_in_binding_order() -> None:
    fn = _fn("mine", "fakeTrigger", Binding("fakeClient", "client", "in", {}),
             Binding("fakeClient", "ignored", "out", {}))
    server = HostServer(AppIndex("app.py", [fn]), [Recorder("ext", [])], port=0)
    bound: list[Any] = server.input_bindings(fn)
    assert [(b.name, b.data.string) for b in bound] == [("client", "value")]
