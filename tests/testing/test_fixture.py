"""What the durable_app fixture gives a test, used here as a user's test uses it (in this
session: no pytest session of its own), on a user's project that knows nothing of this
repository (tests/testing/user: function_app.py, and a host.json turning Durable's V2
tracing on). How pytest runs the fixture (ini options, scope, reports, errors at collection)
is test_plugin.py's, with pytester."""

from __future__ import annotations

import json
import shutil
from collections.abc import Iterator
from pathlib import Path

import pytest

from devhost.testing import DevhostError, DurableApp

REPO = Path(__file__).resolve().parents[2]

pytestmark = pytest.mark.durable_app(app_dir="tests/testing/user")


def test_spans_and_logs_of_any_app_are_what_app_insights_stores(
        durable_app_module: DurableApp) -> None:
    run = durable_app_module.start("greeter", "ada")
    status = run.wait()
    assert status.runtime_status == "Completed" and status.output == "hello ada"
    (span,) = run.spans(name="gree*")
    assert span.attributes["greeting.name"] == "ada"
    # the SERVER row (a request); its CLIENT twin is a dependency
    (host_span,) = [s for s in run.spans(name="activity:greet") if s.item_type == "request"]
    assert span.parent_id == host_span.id
    # Twice, as on Azure: the app's own exporter files its record (under its span), and the
    # worker's root handler forwards it as an RpcLog, which the host files under the
    # invocation (Category Function.<name>.User).
    (record,) = [r for r in run.logs(message="greeting") if "Category" not in r.attributes]
    assert record.message == "greeting someone" and record.attributes["who"] == "ada"
    assert record.parent_id == span.id
    (forwarded,) = [r for r in run.logs(message="greeting") if "Category" in r.attributes]
    assert forwarded.attributes["Category"] == "Function.greet.User"
    assert forwarded.parent_id == host_span.id
    # The host's own rows of the invocation (func start's Executing/Executed lines).
    (executing,) = run.logs("Executing 'Functions.greet'")
    (executed,) = run.logs("Executed 'Functions.greet' (Succeeded")
    assert executing.attributes["Category"] == executed.attributes["Category"] == \
        "Function.greet"
    assert executing.attributes["InvocationId"] == executed.attributes["InvocationId"] \
        == forwarded.attributes["InvocationId"]
    assert executing.parent_id == executed.parent_id == host_span.id
    assert run.kql("requests | where name startswith 'orchestration:' | count") == [[1]]
    assert run.kql("traces | where message has 'greeting' | project message") == \
        [["greeting someone"], ["greeting someone"]]
    with pytest.raises(DevhostError, match="unknown operator 'frobnicate' at line 1, column 10"
                       ".*\\nquery: traces [|] frobnicate"):
        run.kql("traces | frobnicate")


def test_a_failing_activity_is_in_the_exceptions_table(durable_app_module: DurableApp) -> None:
    run = durable_app_module.start("exploder", "boom")
    status = run.wait()
    assert status.runtime_status == "Failed" and "boom" in status.output
    errors = run.exceptions()
    # Two rows per failed invocation, as the host writes them with the exception it holds
    # (FunctionInvocationException around the worker's RpcException; azure-webjobs-sdk
    # f79ea0b ApplicationInsightsLogger.LogException): the `Executed '…' (Failed)` log of
    # Function.<name> (with its FormattedMessage) and the function result (Host.Results).
    # The orchestrator's episode failed too (the SDK fails its invocation): its own two.
    assert sorted(e.attributes["Category"] for e in errors) == [
        "Function.explode", "Function.exploder", "Host.Results", "Host.Results"]
    assert {e.type for e in errors} == {
        "Microsoft.Azure.WebJobs.Host.FunctionInvocationException"}
    (logged,) = [e for e in errors if e.attributes["Category"] == "Function.explode"]
    assert logged.message == "Exception while executing function: Functions.explode"
    chain = json.loads(logged.details) if isinstance(logged.details, str) else logged.details
    assert [d["typeName"] for d in chain] == [
        "Microsoft.Azure.WebJobs.Host.FunctionInvocationException",
        "Microsoft.Azure.WebJobs.Script.Workers.Rpc.RpcException"]
    assert "Exception: ValueError: boom" in chain[-1]["message"]
    assert logged.attributes["FormattedMessage"].startswith("Executed 'Functions.explode' "
                                                            "(Failed, Id=")
    (result,) = [e for e in errors if e.attributes["Category"] == "Host.Results"
                 and e.attributes["prop__Name"] == "explode"]
    (host_span,) = [s for s in run.spans(name="activity:explode") if s.item_type == "request"]
    assert host_span.success is False
    assert host_span.id == logged.parent_id == result.parent_id


@pytest.mark.durable_app(settings={"OTEL_BSP_SCHEDULE_DELAY": "600000",
                                   "OTEL_BLRP_SCHEDULE_DELAY": "600000"})
def test_the_apps_rows_are_readable_when_the_run_ends_whatever_its_batch_delay(
        durable_app: DurableApp) -> None:
    """The app's batch processors would hold its span and log for ten minutes: the worker's
    testing switch (devhost/worker/flush.py) exports them before it answers the invocation,
    so they are filed when the engine sees the activity complete. FunctionRpc itself has no
    such message, and Azure's workers flush nothing per invocation (no `force_flush` in
    azure-functions-python-worker 4.34.0 azure_functions_worker/dispatcher.py, nor in
    azure-functions-runtime 1.3.0)."""
    run = durable_app.start("greeter", "ada")
    assert run.wait().runtime_status == "Completed"
    assert [s.name for s in run.spans(name="greet")] == ["greet"]
    assert [r.message for r in run.logs("greeting") if "who" in r.attributes] == [
        "greeting someone"]


@pytest.mark.durable_app(skip_timers=False)
def test_timer_skipping_can_be_turned_off_by_the_marker(durable_app: DurableApp) -> None:
    assert durable_app.start("greeter", "ed").wait(timeout=1).runtime_status == "Running"


def test_timer_skipping_can_be_turned_off_before_first_use(durable_app: DurableApp) -> None:
    durable_app.skip_timers = False
    assert durable_app.start("greeter", "ed").wait(timeout=1).runtime_status == "Running"


@pytest.fixture()
def recipe_without_host_json(tmp_path: Path) -> Iterator[DurableApp]:
    """The recipe's code in a folder of its own, without its host.json."""
    for name in ("function_app.py", "workflow.py"):
        shutil.copy(REPO / name, tmp_path / name)
    shutil.copytree(REPO / "telemetry", tmp_path / "telemetry",
                    ignore=shutil.ignore_patterns("__pycache__"))
    app = DurableApp(app_dir=tmp_path, data_dir=tmp_path / ".devhost")
    try:
        yield app
    finally:
        app.close()


@pytest.mark.host
def test_a_direct_start_without_v2_tracing_still_covers_its_activities(
        recipe_without_host_json: DurableApp) -> None:
    """No host.json: Durable's V2 tracing is off (TraceOptions' default), as on Azure, so
    each activity invocation starts a trace of its own (the host's Activity has no Durable
    parent). The run still covers them: the recipe's spans and logs carry
    `durabletask.task.instance_id`, and the README's example holds as written."""
    run = recipe_without_host_json.start("parent_workflow_orchestrator", {"customer_id": "c-1"})
    assert run.wait().runtime_status == "Completed"
    spans = run.spans(name="run_activity:*")
    assert len(spans) == 2
    for span in spans:
        assert span.attributes["app.durable.root_instance_id"] == run.instance_id
    assert len({span.operation_id for span in spans}) == 2  # a trace each
    assert run.logs(message="Synced customer profile")[0].attributes["customer_id"] == "c-1"
    assert not run.spans(name="activity:*")  # no Durable rows without V2
