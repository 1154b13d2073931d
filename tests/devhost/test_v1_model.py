"""A v1-model Durable app (tests/devhost/apps/v1_app: one folder per function, each a
function.json and an `__init__.py`, no function_app.py), written in the style of the
azure-functions-durable-python samples (function_chaining, fan_out_fan_in,
simple_sub_orchestration, counter_entity, human_interaction), on `devhost start` as a user runs
it. Its local.settings.json carries the placeholder connection string of the Durable
extension's own e2e app (test/e2e/Apps/BasicPython/local.settings.json).

What Azure does, and devhost follows:
- the proxy worker loads azure_functions_runtime_v1 when the app folder has no
  PYTHON_SCRIPT_FILE_NAME script (azure-functions-python-worker,
  workers/proxy_worker/dispatcher.py `Dispatcher.reload_library_worker`, commit 0320cd7);
- that runtime declines to index (`use_default_metadata_indexing`), so the host reads
  function.json itself (azure-functions-host v4.1036.3, FunctionMetadataProvider.cs →
  HostFunctionMetadataProvider.cs) and sends a FunctionLoadRequest per function
  (GrpcWorkerChannel.cs `GetFunctionLoadRequest`);
- the durableClient input reaches a v1 starter as the JSON string the SDK's
  DurableOrchestrationClient is built from (the extension's out-of-proc client binding);
- a placeholder App Insights key does not stop the host (ScriptHostBuilderExtensions
  .ConfigureApplicationInsights only checks that one is set).

One host for the module: one process start and its worker."""

from __future__ import annotations

import os
import time
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest

from devhost.insights.remote import remote_flush
from devhost.insights.serving import server_of
from devhost.insights.view import load_operation, load_run
from tests.hosting import devhost_env, launch

from .support import APPS, free_port, http, until

pytestmark = pytest.mark.host

V1_APP = APPS / "v1_app"


class V1Host:
    def __init__(self, base: str, log: Path, db: Path) -> None:
        self.base = base
        self.log = log
        self.db = db

    def start(self, orchestrator: str, body: Any = None,
              headers: dict[str, str] | None = None) -> dict[str, Any]:
        status, started, _ = http("POST", f"{self.base}/api/orchestrators/{orchestrator}", body,
                                  headers=headers)
        assert status == 202, started
        return dict(started)

    def finish(self, started: dict[str, Any], timeout: float = 30) -> dict[str, Any]:
        def done() -> dict[str, Any] | None:
            _, body, _ = http("GET", started["statusQueryGetUri"])
            return body if body["runtimeStatus"] not in ("Pending", "Running") else None

        return dict(until(done, timeout))

    def run(self, orchestrator: str, body: Any = None) -> dict[str, Any]:
        return self.finish(self.start(orchestrator, body))


@pytest.fixture(scope="module")
def v1_host(tmp_path_factory: pytest.TempPathFactory) -> Iterator[V1Host]:
    tmp = tmp_path_factory.mktemp("v1")
    port, log = free_port(), tmp / "devhost.log"
    env = devhost_env()
    env.pop("DEVHOST_SYNC_EXPORT")  # the host's rows in batches, as `devhost start` sends them
    proc = launch(V1_APP, "function_app", tmp / "data", port, log, env)
    try:
        yield V1Host(f"http://127.0.0.1:{port}", log, tmp / "data" / "insights.duckdb")
    finally:
        proc.terminate()
        proc.wait(30)


def test_the_banner_names_the_model_and_the_runtime_that_loaded_it(v1_host: V1Host) -> None:
    text = v1_host.log.read_text()
    assert ("Indexed 7 functions of function.json folders (v1 programming model) with "
            "azure-functions-runtime-v1 1.") in text
    assert "        HttpStart: [POST] " in text and "/api/orchestrators/{functionName}" in text
    assert "        Greet: activityTrigger" in text


def test_a_placeholder_connection_string_is_one_line_naming_the_setting_and_the_file(
        v1_host: V1Host) -> None:
    lines = [line for line in v1_host.log.read_text().splitlines()
             if "APPLICATIONINSIGHTS_CONNECTION_STRING" in line]
    assert len(lines) == 1, lines
    assert str(V1_APP / "local.settings.json") in lines[0]
    assert "Invalid instrumentation key" in lines[0] and "the host starts" in lines[0]
    assert "Traceback" not in v1_host.log.read_text()


def test_function_chaining(v1_host: V1Host) -> None:
    done = v1_host.run("Chaining")
    assert done["runtimeStatus"] == "Completed", done
    assert done["output"] == ["Hello Tokyo!", "Hello Hello Tokyo!!", "Hello London!"]


def test_fan_out_fan_in(v1_host: V1Host) -> None:
    names = [f"n{i}" for i in range(10)]
    done = v1_host.run("FanOutFanIn", names)
    assert done["runtimeStatus"] == "Completed", done
    assert done["output"] == {"count": 10, "greetings": [f"Hello {n}!" for n in names]}


def test_a_sub_orchestration_and_an_entity(v1_host: V1Host) -> None:
    done = v1_host.run("Parent")
    assert done["runtimeStatus"] == "Completed", done
    assert done["output"]["counter"] == 3  # the entity added the chain's length
    _, child, _ = http("GET", f"{v1_host.base}/runtime/webhooks/durabletask/instances/"
                              f"{done['instanceId']}:chain")
    assert child["name"] == "Chaining" and child["runtimeStatus"] == "Completed"


def test_human_interaction_through_the_event_url(v1_host: V1Host) -> None:
    started = v1_host.start("Approval")
    status_url = started["statusQueryGetUri"]
    until(lambda: http("GET", status_url)[1]["customStatus"] == "waiting for approval")
    event_url = started["sendEventPostUri"].replace("{eventName}", "Approval")
    assert http("POST", event_url, "ana", headers={"Content-Type": "application/json"}
                )[0] == 202
    begun = time.monotonic()
    done = v1_host.finish(started)
    assert done["output"] == {"approved": "ana"}, done
    assert time.monotonic() - begun < 30  # the event won, not the hour-long timer


def test_rows_in_flight_are_flushed_and_a_run_without_tracing_shows_its_request(
        v1_host: V1Host) -> None:
    """The host batches its rows (BatchSpanProcessor/BatchLogRecordProcessor, every 5 s): a
    reader in another process asks the devhost serving the database to post them and waits
    for that (insights/remote.py remote_flush), not for a clock. This app has no Durable
    tracing V2, so no row names the instance (each invocation is its own operation, as on
    Azure): what `call --tree` can show is the operation of the request it sent."""
    trace_id = os.urandom(16).hex()
    started = v1_host.start("Chaining", headers={
        "traceparent": f"00-{trace_id}-{os.urandom(8).hex()}-01"})
    assert v1_host.finish(started)["runtimeStatus"] == "Completed"
    url = server_of(v1_host.db)
    assert url is not None
    remote_flush(url)
    assert load_run(v1_host.db, started["id"]) == []
    [root] = load_operation(v1_host.db, trace_id)
    assert root.name == "HttpStart" and root.kind == "request"
    assert f"Started orchestration with ID = '{started['id']}'." in root.logs
    assert root.logs[0].startswith("Executing 'Functions.HttpStart'")
