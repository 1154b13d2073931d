"""The recipe end to end on devhost, through the durable_app fixture only (devhost.testing's
public API): output, correlation on spans and logs as App Insights stores them, one trace."""

from __future__ import annotations

import pytest

from devhost.testing import DurableApp
from telemetry import attributes as attr

STARTER = "/api/start-sub-orchestration"
STANDARD_PREFIXES = ("http.", "db.", "net.", "code.", "exception.")


@pytest.fixture
def durable_app(durable_app_module: DurableApp) -> DurableApp:
    """One devhost for the whole module (durable_app_module): its settings are the same for
    every test, and each test reads only its own runs' rows."""
    return durable_app_module


def test_default_input_gives_the_seed_output(durable_app: DurableApp) -> None:
    run = durable_app.http("POST", STARTER)
    assert run.response is not None and run.response.status == 202
    final = run.wait()
    assert final.runtime_status == "Completed"
    output = final.output
    assert output["instanceId"] == run.instance_id and output["status"] == "completed"
    assert output["customer"] == {"step": "customer_sync", "customerId": "cust-1001",
                                  "segment": "enterprise", "status": "completed"}
    inventory = output["inventory"]
    assert {k: inventory[k] for k in ("step", "skuCount", "status")} == {
        "step": "inventory_sync", "skuCount": 2, "status": "completed"}


def test_held_out_input_and_deterministic_child_ids(durable_app: DurableApp) -> None:
    run = durable_app.http("POST", STARTER, json={
        "customer_id": "cust-7", "customer_segment": "smb", "skus": ["A", "B", "C"]})
    final = run.wait()
    root = run.instance_id
    assert final.output["customer"]["customerId"] == "cust-7"
    assert final.output["inventory"]["skuCount"] == 3
    children = {f"{root}:customer-sync", f"{root}:inventory-sync"}
    assert set(run.instances()) == {root} | children
    # History as the status API shows it on Azure: each SubOrchestrationInstanceCreated is
    # merged into its completion (DurableClient.GetDurableOrchestrationStatusAsync).
    completed = [e["FunctionName"] for e in run.history()
                 if e["EventType"] == "SubOrchestrationInstanceCompleted"]
    assert sorted(completed) == ["customer_sync_sub_orchestrator",
                                 "inventory_sync_sub_orchestrator"]
    for child in children:
        assert run.status(child).runtime_status == "Completed"


def test_spans_carry_correlation_and_share_one_trace(durable_app: DurableApp) -> None:
    run = durable_app.http("POST", STARTER, json={"customer_id": "cust-9"})
    assert run.wait().runtime_status == "Completed"
    root = run.instance_id
    spans = run.spans()
    assert len({s.operation_id for s in spans}) == 1, [s.name for s in spans]
    app_spans = {s.name: s for s in spans if attr.ROLE in s.attributes}
    assert set(app_spans) == {"start_orchestration:parent_workflow_orchestrator",
                              "run_activity:sync_customer_profile",
                              "run_activity:build_inventory_snapshot"}
    starter = app_spans["start_orchestration:parent_workflow_orchestrator"]
    assert starter.attributes == {
        attr.TYPE: "orchestration", attr.TASK_NAME: "parent_workflow_orchestrator",
        attr.INSTANCE_ID: root, attr.ROLE: "starter", attr.ROOT_INSTANCE_ID: root,
        attr.PARENT_INSTANCE_ID: "", attr.ORCHESTRATION_NAME: "parent_workflow_orchestrator"}
    assert starter.item_type == "dependency"
    for activity, suffix, child in (
            ("sync_customer_profile", "customer-sync", "customer_sync_sub_orchestrator"),
            ("build_inventory_snapshot", "inventory-sync", "inventory_sync_sub_orchestrator")):
        span = app_spans[f"run_activity:{activity}"]
        assert span.attributes == {
            attr.TYPE: "activity", attr.TASK_NAME: activity,
            attr.INSTANCE_ID: f"{root}:{suffix}", attr.ROLE: "activity",
            attr.ROOT_INSTANCE_ID: root, attr.PARENT_INSTANCE_ID: root,
            attr.ORCHESTRATION_NAME: child}
        # The host's SERVER `activity:` row (TaskActivityDispatcher), not its CLIENT twin.
        (host_span,) = [s for s in run.spans(name=f"activity:{activity}")
                        if s.item_type == "request"]
        assert span.parent_id == host_span.id
    keys = {k for s in app_spans.values() for k in s.attributes}
    assert not any(k.startswith(STANDARD_PREFIXES) for k in keys)


def test_logs_carry_the_same_keys_and_are_parented_to_their_span(
        durable_app: DurableApp) -> None:
    run = durable_app.http("POST", STARTER)
    assert run.wait().runtime_status == "Completed"
    by_id = {s.id: s for s in run.spans()}
    records = {r.message: r for r in run.logs()}
    assert set(records) >= {"Started parent workflow orchestration",
                            "Synced customer profile", "Built inventory snapshot"}
    for message, span_name in (
            ("Started parent workflow orchestration",
             "start_orchestration:parent_workflow_orchestrator"),
            ("Synced customer profile", "run_activity:sync_customer_profile"),
            ("Built inventory snapshot", "run_activity:build_inventory_snapshot")):
        record = records[message]
        span = by_id[record.parent_id]
        assert span.name == span_name
        assert record.operation_id == span.operation_id
        for key in (attr.ROOT_INSTANCE_ID, attr.PARENT_INSTANCE_ID, attr.INSTANCE_ID,
                    attr.ROLE, attr.TASK_NAME):
            assert record.attributes[key] == span.attributes[key], (message, key)
        assert record.attributes[attr.ROOT_INSTANCE_ID] == run.instance_id
    # App Insights keeps custom properties as strings.
    assert records["Built inventory snapshot"].attributes["sku_count"] == "2"


def test_the_issue_example_starting_the_orchestrator_directly(durable_app: DurableApp) -> None:
    run = durable_app.start("parent_workflow_orchestrator", {
        "customer_id": "c-1", "customer_segment": "smb", "skus": ["A", "B"]})
    assert run.wait().runtime_status == "Completed"
    activity_spans = run.spans(name="run_activity:*")
    assert len(activity_spans) == 2
    for span in activity_spans:
        assert span.attributes["app.durable.root_instance_id"] == run.instance_id
    assert run.logs(message="Synced customer profile")[0].attributes["customer_id"] == "c-1"
    assert run.kql("dependencies | where name startswith 'run_activity:' | count") == [[2]]


def test_a_direct_start_gets_the_starters_defaults(durable_app: DurableApp) -> None:
    """Started without the HTTP starter (management API, `devhost run`, a test), the parent
    completes a partial input from the same defaults the starter uses."""
    final = durable_app.start("parent_workflow_orchestrator", {"customer_id": "c-1"}).wait()
    assert final.runtime_status == "Completed"
    assert final.output["customer"]["customerId"] == "c-1"
    assert final.output["customer"]["segment"] == "enterprise"
    assert final.output["inventory"]["skus"] == ["SKU-100", "SKU-200"]


def test_a_direct_start_with_bad_input_fails_naming_the_field(durable_app: DurableApp) -> None:
    final = durable_app.start("parent_workflow_orchestrator", {"customer_id": "c-1",
                                                               "skus": "A"}).wait()
    assert final.runtime_status == "Failed"
    assert "'skus' must be a list" in str(final.output)


def test_the_hosts_invocation_rows_sit_under_each_functions_request(
        durable_app: DurableApp) -> None:
    """The worker runs in its own process, so the host files what Azure's does for each
    invocation (azure-functions-host FunctionExecutor's `Executing '…'`/`Executed '…'` lines,
    Category `Function.<name>`) under the function's request row: the starter's HTTP request
    and each activity's SERVER row."""
    run = durable_app.http("POST", STARTER)
    assert run.wait().runtime_status == "Completed"
    requests = [s for s in run.spans() if s.item_type == "request"]
    for function, row in (("start_sub_orchestration", "start_sub_orchestration"),
                          ("sync_customer_profile", "activity:sync_customer_profile"),
                          ("build_inventory_snapshot", "activity:build_inventory_snapshot")):
        (request,) = [s for s in requests if s.name == row]
        (executing,) = run.logs(f"Executing 'Functions.{function}'")
        (executed,) = run.logs(f"Executed 'Functions.{function}' (Succeeded")
        for record in (executing, executed):
            assert record.attributes["Category"] == f"Function.{function}"
            assert record.parent_id == request.id and record.operation_id == request.operation_id
        assert executing.attributes["InvocationId"] == executed.attributes["InvocationId"]
        assert executing.timestamp <= executed.timestamp


def test_the_console_shows_each_invocation_like_func_start(durable_app: DurableApp) -> None:
    before = len(durable_app.console().splitlines())  # the module's host ran other tests
    run = durable_app.http("POST", STARTER)
    run.wait()
    lines = durable_app.console().splitlines()[before:]
    # FunctionExecutor's two lines per invocation (azure-functions-host), replays included
    starter = [line for line in lines if "'Functions.start_sub_orchestration'" in line]
    assert len(starter) == 2
    assert "Executing 'Functions.start_sub_orchestration' (Reason=" in starter[0]
    assert "Executed 'Functions.start_sub_orchestration' (Succeeded, Id=" in starter[1]
    parent = [line for line in lines
              if "Executed 'Functions.parent_workflow_orchestrator' (Succeeded" in line]
    assert len(parent) >= 2  # the first episode and the one that completes
