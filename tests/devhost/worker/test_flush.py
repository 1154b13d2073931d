"""The worker's testing switch (devhost/worker/flush.py): off unless the plugin's host sets
it, and its flush runs outside the invocation, so the exporter's own log lines are never
filed as the function's (devhost/host/logs.py HostLogs.worker_log files only records
that name an invocation it is running)."""

from __future__ import annotations

import asyncio

import pytest

from devhost.worker import flush
from devhost.worker.dispatcher import _task_invocation, current_invocation_id


@pytest.mark.parametrize(("value", "on"), [("true", True), ("TRUE", True), (" true ", True),
                                           ("", False), ("false", False), ("1", False)])
def test_the_switch_is_on_only_when_set_to_true(monkeypatch: pytest.MonkeyPatch, value: str,
                                                on: bool) -> None:
    monkeypatch.setenv(flush.FLUSH_SETTING, value)
    assert flush.enabled() is on


def test_off_when_unset(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.delenv(flush.FLUSH_SETTING, raising=False)
    assert flush.enabled() is False


def test_the_flush_runs_with_no_invocation_id(monkeypatch: pytest.MonkeyPatch) -> None:
    seen: list[str | None] = []
    monkeypatch.setattr(flush, "flush_providers", lambda: seen.append(current_invocation_id()))

    async def invocation() -> str | None:
        _task_invocation.set("inv-1")  # as Dispatcher.handle does around the runtime's verb
        await flush.after_invocation()
        return current_invocation_id()

    assert asyncio.run(invocation()) == "inv-1"
    assert seen == [None]
