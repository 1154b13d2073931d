"""The startup banner lists every function like `func start` does ("<name>: [METHODS] url" for
HTTP, "<name>: <trigger>" otherwise; azure-functions-core-tools StartHostAction), adding the
durable name a client must use, the timer schedule, and a clear mark on what devhost does not
run."""

from __future__ import annotations

from pathlib import Path

import pytest

from devhost.cli.start import host_server, load_app
from devhost.durable.engine import Engine
from devhost.durable.store import Store
from devhost.host.server import BackgroundHost

from ..support import APPS

pytestmark = pytest.mark.host


def test_banner_names_triggers_durable_names_routes_and_what_is_not_run(tmp_path: Path) -> None:
    index = load_app("banner_app", APPS)
    server = host_server(index, Engine(index, Store(tmp_path / "d.sqlite")), port=0,
                         data_dir=tmp_path)
    with BackgroundHost(server) as host:
        routes = [(fn, str(fn.trigger.settings.get("route")), ["GET"])
                  for fn in index.http_functions]
        lines = {line.strip().split(":", 1)[0]: line.strip().split(": ", 1)[1]
                 for line in server.banner(routes).splitlines() if line.startswith("        ")}
    assert lines["hello_cities"] == "orchestrationTrigger  (durable name: HelloCities)"
    assert lines["say_hello"] == "activityTrigger  (durable name: SayHello)"
    assert lines["counter"] == "entityTrigger  (entity name: Counter)"
    assert lines["nightly"].startswith("timerTrigger  (schedule: 0 0 3 * * *, UTC; next: ")
    assert lines["from_queue"] == ("queueTrigger  NOT RUN by devhost: this trigger needs its "
                                   "Azure service")
    assert lines["enqueue"].startswith(f"[GET] {host.base_url}/api/Items/{{id}}")
    assert lines["enqueue"].endswith("NOT RUNNABLE by devhost: binding queue needs its Azure "
                                     "service")
    # The runtime reports `@app.retry` as the function's retry_options (RpcFunctionMetadata
    # field 15), which the host applies on Azure and devhost does not.
    assert lines["retried"].endswith("retry policy NOT APPLIED by devhost: a failure is not "
                                     "retried")
    assert "retry policy" not in lines["nightly"]
