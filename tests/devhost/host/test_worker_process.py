"""`devhost start` as a user runs it: the worker in its own process(es), over gRPC.

Sources: azure-functions-python-worker proxy_worker/dispatcher.py (root handler → RpcLog;
the invocation's context carries only trace_context), azure-functions-runtime 1.3.0
handle_event.py invocation_request (a failure is an InvocationResponse with the exception),
azure-functions-host (RpcLog → ILogger category Function.<name>.User; Executed lines;
FUNCTIONS_WORKER_PROCESS_COUNT).
"""

from __future__ import annotations

import subprocess
import sys
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest

from devhost.host.processes import INITIALIZED
from devhost.insights.query import run_kql
from tests.hosting import REPO, devhost_env, start

from ..support import APPS, free_port, http, until

pytestmark = pytest.mark.host


@pytest.fixture(scope="module")
def finished(tmp_path_factory: pytest.TempPathFactory) -> Iterator[dict[str, Any]]:
    """One devhost with two workers: a run of each orchestration and a failing HTTP call,
    then a clean stop, so everything is exported."""
    host = start(Path(tmp_path_factory.mktemp("worker")), APPS / "worker_app",
                 FUNCTIONS_WORKER_PROCESS_COUNT="2", DEVHOST_WORKER_STARTUP_INTERVAL="0")
    try:
        # The host serves with the first worker; the runs need both (the host's
        # "Worker process started and initialized." is printed for each).
        until(lambda: host.log.read_text(errors="replace").count(INITIALIZED) == 2, 60)
        runs = {name: host.run(name) for name in ("logs_and_spans", "spread", "tags")}
        boom = http("GET", f"{host.base}/api/boom")
        no_return = http("GET", f"{host.base}/api/no-return")
    finally:
        console = host.stop()
    yield {"runs": runs, "boom": boom, "no_return": no_return, "console": console,
           "db": host.data_dir / "insights.duckdb", "pid": host.proc.pid}


def test_runs_complete_through_the_worker(finished: dict[str, Any]) -> None:
    """The app imports a module found only in its .python_packages/lib/site-packages
    (devhost/worker/paths.py: the worker's sys.path as on Azure)."""
    assert {r["runtimeStatus"] for r in finished["runs"].values()} == {"Completed"}
    assert finished["runs"]["logs_and_spans"]["output"] == "done:vendored"
    assert "azure-functions-runtime 1.3.0" in finished["console"]


def test_two_workers_share_the_load(finished: dict[str, Any]) -> None:
    """FUNCTIONS_WORKER_PROCESS_COUNT=2: invocations spread over both processes."""
    pids = finished["runs"]["spread"]["output"]
    assert len(pids) == 2 and finished["pid"] not in pids


def test_with_durable_tracing_the_activity_gets_the_durabletask_activitys_tags(
        finished: dict[str, Any]) -> None:
    """With V2 tracing on (host.json) and a connection string, DurableTask.Core's activity
    Activity is Activity.Current while the function runs, so the host hands its string tags
    over as trace_context.attributes (WorkerFunctionInvoker.InvokeCore `Activity.Current?.Tags`;
    durabletask TraceHelper.StartTraceActivityForTaskExecution; the int task id is not among
    `Activity.Tags`), and the WebJobs logger starts no operation of its own."""
    run = finished["runs"]["tags"]
    assert run["output"] == {"durabletask.type": "activity",
                             "durabletask.task.name": "activity_tags",
                             "durabletask.task.instance_id": run["instanceId"]}


def test_a_plain_log_lands_once_in_traces_with_its_category(finished: dict[str, Any]) -> None:
    """The worker's root handler sends it as an RpcLog; the host files it once, under
    Function.<name>.User, in the invocation's operation."""
    _, rows = run_kql(finished["db"], """traces
| where message startswith "plain log line"
| project message, category = tostring(customDimensions.Category), operation_Id""")
    assert [(r[0], r[1]) for r in rows] == [("plain log line from worker-test",
                                             "Function.plain_log.User")]
    assert rows[0][2]


def test_the_host_writes_executing_and_executed_rows(finished: dict[str, Any]) -> None:
    _, rows = run_kql(finished["db"], """traces
| where tostring(customDimensions.Category) == "Function.logs_and_spans"
| project message""")
    messages = [r[0] for r in rows]
    # One pair per episode: the orchestrator's replays are invocations too.
    assert sum(m.startswith("Executing 'Functions.logs_and_spans'") for m in messages) >= 2
    assert sum(m.startswith("Executed 'Functions.logs_and_spans' (Succeeded")
               for m in messages) >= 2


def test_executing_rows_give_the_reason_the_host_gives(finished: dict[str, Any]) -> None:
    """FunctionStartedMessage.FormatReason: a Durable trigger passes no reason, so the host
    prints "(null)" (`Executing 'Functions.E3_Monitor' (Reason='(null)', …)` in the Durable
    monitor sample's func start output); an HTTP call is a host API call."""
    _, rows = run_kql(finished["db"], """traces
| where message startswith "Executing 'Functions."
| project function = tostring(customDimensions.Category), message""")
    reasons = {f: m.split("(Reason='", 1)[1].split("', Id=", 1)[0] for f, m in rows}
    assert reasons["Function.logs_and_spans"] == "(null)"
    assert reasons["Function.boom"] == ("This function was programmatically called via the "
                                        "host APIs.")


def test_user_spans_have_the_host_span_as_parent_only_through_trace_context(
        finished: dict[str, Any]) -> None:
    """The host's activity span is not current in the user's code (another process): a span
    parented from context.trace_context joins the run, one relying on the current span
    starts a trace of its own, as on Azure."""
    _, hosts = run_kql(finished["db"], """requests | where name == "activity:spans"
| project id, operation_Id""")
    assert len(hosts) == 1
    host_id, operation = hosts[0]
    _, users = run_kql(finished["db"], """dependencies | where name startswith "user_span:"
| project name, operation_Id, operation_ParentId""")
    by_name = {r[0]: (r[1], r[2]) for r in users}
    assert by_name["user_span:with_trace_context"] == (operation, host_id)
    orphan_operation, orphan_parent = by_name["user_span:current_span_only"]
    assert orphan_operation != operation and not orphan_parent


def test_an_unhandled_http_exception_is_a_500_with_an_empty_body(
        finished: dict[str, Any]) -> None:
    status, body, _ = finished["boom"]
    assert status == 500 and body is None
    console = finished["console"]
    assert "Executed 'Functions.boom' (Failed, Id=" in console
    assert "kaboom from the user's code" in console


def test_a_value_returned_without_a_return_binding_fails_the_invocation(
        finished: dict[str, Any]) -> None:
    """handle_event.py invocation_request: 'function ... without a $return binding returned
    a non-None value' — a failure on Azure that the in-process imitation let through."""
    status, body, _ = finished["no_return"]
    assert status == 500 and body is None
    assert "Executed 'Functions.no_return' (Failed, Id=" in finished["console"]
    assert "without a $return binding" in finished["console"]


def test_an_import_error_shows_the_workers_error_and_exits_non_zero(tmp_path: Path) -> None:
    proc = subprocess.run(
        [sys.executable, "-m", "devhost", "start", "--app-dir", str(APPS / "broken"),
         "--data-dir", str(tmp_path / "data"), "--port", str(free_port())],
        cwd=REPO, env=devhost_env(), capture_output=True, text=True, timeout=120)
    assert proc.returncode != 0
    assert "a_module_that_is_not_installed" in proc.stderr
    assert "ModuleNotFoundError" in proc.stderr
