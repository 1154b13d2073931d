"""Small apps in the style of the public Durable Functions samples, run over real HTTP with the
SDK client inside the app's own functions: a singleton monitor kept alive by a timer trigger,
an approval suspended and resumed, a failed order rewound. (The entity Counter sample is in
test_entities.py.) Sources for each behaviour are named in the engine tests they rely on:
durable/test_lifecycle.py, timers/test_listener.py."""

from __future__ import annotations

from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import Any

import pytest

from devhost.cli.start import host_server, load_app
from devhost.durable.engine import Engine
from devhost.durable.store import Store
from devhost.host.server import BackgroundHost

from .support import APPS, engine_of, http, until

pytestmark = pytest.mark.host

STATUS = "/runtime/webhooks/durabletask/instances/"


@contextmanager
def _host(app: str, tmp_path: Path) -> Iterator[BackgroundHost]:
    index = load_app(app, APPS)
    server = host_server(index, Engine(index, Store(tmp_path / "durable.sqlite")), port=0,
                         data_dir=tmp_path)
    with BackgroundHost(server) as host:
        yield host


def _status(host: BackgroundHost, iid: str, history: bool = False) -> dict[str, Any]:
    query = "?showHistory=true" if history else ""
    status, body, _ = http("GET", f"{host.base_url}{STATUS}{iid}{query}")
    return dict(body) if status in (200, 202) else {"runtimeStatus": None}  # not created yet


def test_singleton_monitor_kept_alive_by_a_timer_trigger(
        tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    ticks = tmp_path / "ticks"
    monkeypatch.setenv("MONITOR_TICKS_FILE", str(ticks))
    with _host("monitor_app", tmp_path) as host:
        done = until(lambda: (s := _status(host, "job-monitor"))["runtimeStatus"]
                      == "Completed" and s)
        until(lambda: ticks.exists() and len(ticks.read_text().splitlines()) >= 3)
        _, listed, _ = http("GET", f"{host.base_url}{STATUS}")
    assert done["output"] == {"done_after": 3}
    assert [i["instanceId"] for i in listed] == ["job-monitor"]  # one singleton, restarted


def test_approval_suspended_and_resumed_through_the_sdk_client(tmp_path: Path) -> None:
    with _host("approval_app", tmp_path) as host:
        api = f"{host.base_url}/api/approvals"
        _, started, _ = http("POST", api)
        iid = started["id"]
        until(lambda: _status(host, iid)["customStatus"] == "waiting for approval")
        # Suspend only queues the request (TaskHubClient.SuspendInstanceAsync sends a
        # message), so the status turns Suspended a moment later, as on Azure.
        assert http("POST", f"{api}/{iid}/suspend")[0] == 200
        until(lambda: _status(host, iid)["runtimeStatus"] == "Suspended")
        http("POST", f"{api}/{iid}/approve", "ana")  # the event is queued when this answers
        # Nothing left to run: a running instance would have completed by now.
        host.call(engine_of(host).idle())
        held = _status(host, iid)
        assert held["runtimeStatus"] == "Suspended" and held["output"] is None
        http("POST", f"{api}/{iid}/resume")
        final = until(lambda: (s := _status(host, iid, True))["runtimeStatus"]
                       == "Completed" and s)
    # The SDK double-encodes event data and the extension keeps it as sent, so the
    # orchestrator gets JSON text, as on Azure (azure-functions-durable-python issue 295).
    assert final["output"] == {"approved_by": '"ana"'}
    kinds = [e["EventType"] for e in final["historyEvents"]]
    assert kinds.index("ExecutionSuspended") < kinds.index("ExecutionResumed")


def test_failed_order_rewound_through_the_sdk_client(
        tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    fixed = tmp_path / "fixed"
    monkeypatch.setenv("REWIND_FIXED_FLAG", str(fixed))
    with _host("rewind_app", tmp_path) as host:
        _, started, _ = http("POST", f"{host.base_url}/api/orders",
                             {"sku": "SKU-1", "amount": 12})
        iid = started["id"]
        failed = until(lambda: (s := _status(host, iid))["runtimeStatus"] == "Failed" and s)
        assert "payment provider unreachable" in failed["output"]
        fixed.touch()
        status, body, _ = http("POST", f"{host.base_url}/api/orders/{iid}/rewind")
        assert (status, body) == (202, {"rewound": iid})
        final = until(lambda: (s := _status(host, iid, True))["runtimeStatus"]
                       == "Completed" and s)
    assert final["output"] == ["reserved SKU-1", "charged 12"]
    reasons = [e.get("Reason") for e in final["historyEvents"] if e["EventType"] == "GenericEvent"]
    assert "Rewound: TaskFailed" in reasons
