"""A held-out run exported by the REAL Azure Monitor exporter (the app's own, in the worker,
and the host's) and read back from the App Insights tables it posted to: rows, ids and
columns are checked as App Insights stores them."""

from __future__ import annotations

import json
import re

import pytest

from devhost.testing import DurableApp, LogRecord, RunHandle, Span

STARTER = "/api/start-sub-orchestration"
ROLE = "sub-orchestration-e2e"
HOST_ROLE = "sub-orchestration-site"
HELD_OUT = {"customer_id": "cust-4242", "customer_segment": "public-sector",
            "skus": ["SKU-9", "SKU-8", "SKU-7"]}

pytestmark = pytest.mark.durable_app(settings={"OTEL_SERVICE_NAME": ROLE,
                                               "WEBSITE_CLOUD_ROLENAME": HOST_ROLE})


@pytest.fixture(scope="module")
def run(durable_app_module: DurableApp) -> RunHandle:
    started = durable_app_module.http("POST", STARTER, json=HELD_OUT)
    assert started.wait().runtime_status == "Completed"
    return started


def test_held_out_output(run: RunHandle) -> None:
    output = run.wait().output
    assert output["customer"]["customerId"] == "cust-4242"
    assert output["customer"]["segment"] == "public-sector"
    assert output["inventory"]["skuCount"] == 3


def test_rows_carry_ids_under_one_operation(run: RunHandle,
                                            durable_app_module: DurableApp) -> None:
    root = run.instance_id
    spans, logs = run.spans(), run.logs()
    assert {s.item_type for s in spans} == {"request", "dependency"} and logs
    # Everything this host captured (not only the run's operations) is one operation:
    assert durable_app_module.kql("union requests, dependencies, traces "
                                  "| summarize n = count() by operation_Id | count") == [[1]]
    # cloud_RoleName by who wrote the row: the app's exporter its OTEL_SERVICE_NAME; the
    # host WEBSITE_CLOUD_ROLENAME (WebJobsRoleEnvironmentTelemetryInitializer); Durable V2 rows
    # none (the extension's own TelemetryConfiguration.CreateDefault(), TelemetryActivator).
    roles = run.kql("""union requests, dependencies, traces
| extend dims = tostring(customDimensions)
| extend who = iff(dims contains '"app.durable.role"', "app",
               iff(dims contains '"durabletask.type"', "durable", "host"))
| distinct who, cloud_RoleName""")
    assert sorted((who, role or "") for who, role in roles) == [
        ("app", ROLE), ("durable", ""), ("host", HOST_ROLE)]
    ids = {s.id for s in spans}
    rows: list[Span | LogRecord] = [*spans, *logs]
    activities = [r for r in rows
                  if r.attributes.get("app.durable.role") == "activity"]
    assert len(activities) == 2 + 2  # two spans and two logs
    for row in activities:
        assert row.attributes["app.durable.root_instance_id"] == root
        assert row.attributes["app.durable.parent_instance_id"] == root
        assert row.attributes["durabletask.task.instance_id"] in (f"{root}:customer-sync",
                                                                  f"{root}:inventory-sync")
        assert row.parent_id in ids
    children = run.spans(name="orchestration:*")
    assert {s.attributes["durabletask.task.instance_id"] for s in children} == {
        root, f"{root}:customer-sync", f"{root}:inventory-sync"}


def test_tables_answer_kql(run: RunHandle) -> None:
    root = run.instance_id
    rows = run.kql(f"""dependencies
| where tostring(customDimensions["app.durable.root_instance_id"]) == "{root}"
| where tostring(customDimensions["app.durable.role"]) == "activity"
| project name, child = tostring(customDimensions["durabletask.task.instance_id"]),
          operation_Id, type, success
| order by name asc""")
    assert [r[0] for r in rows] == ["run_activity:build_inventory_snapshot",
                                    "run_activity:sync_customer_profile"]
    assert {r[1] for r in rows} == {f"{root}:customer-sync", f"{root}:inventory-sync"}
    assert {r[3] for r in rows} == {"InProc"} and all(r[4] for r in rows)
    traces = run.kql(f"""traces
| where tostring(customDimensions["app.durable.role"]) == "activity"
| where tostring(customDimensions["app.durable.root_instance_id"]) == "{root}"
| project message, severityLevel""")
    assert sorted(t[0] for t in traces) == ["Built inventory snapshot",
                                           "Synced customer profile"]
    assert {t[1] for t in traces} == {1}


def test_each_app_log_lands_once_beside_the_hosts_rows(run: RunHandle) -> None:
    """Under the host's handling (worker RpcLogs and Executing/Executed rows go to traces,
    as classic-mode App Insights does) every app log is in `traces` exactly once: the
    app's exporter's copy, since its logger does not propagate to the worker's root handler."""
    rows = run.kql("""traces
| project message, category = tostring(customDimensions.Category)""")
    app = sorted(m for m, category in rows if not category)
    assert app == ["Built inventory snapshot", "Started parent workflow orchestration",
                   "Synced customer profile"]
    assert not [m for m, category in rows if category.endswith(".User")]
    host = {(m.split(" (")[0], category) for m, category in rows if category}
    for name in ("start_sub_orchestration", "parent_workflow_orchestrator",
                 "customer_sync_sub_orchestrator", "sync_customer_profile",
                 "build_inventory_snapshot"):
        assert (f"Executed 'Functions.{name}'", f"Function.{name}") in host


def test_host_rows_are_what_the_host_writes(run: RunHandle) -> None:
    """Executing/Executed as ApplicationInsightsLogger files FunctionInstanceLogger's
    messages (azure-webjobs-sdk f79ea0b: `prop__` + the template's names, EventId/EventName,
    InvocationId and operation_Name from the function's scope, ProcessId from
    WebJobsTelemetryInitializer; azure-functions-host 89dc438 ScriptTelemetryInitializer:
    HostInstanceId), and nothing the host never writes (the exporter's `logger_name`)."""
    rows = run.kql("""traces
| where message startswith "Executing 'Functions.sync_customer_profile'"
| project operation_Name, customDimensions""")
    assert len(rows) == 1
    name, dims = rows[0][0], json.loads(rows[0][1])
    assert name == "sync_customer_profile"
    assert dims["EventId"] == "1" and dims["EventName"] == "FunctionStarted"
    assert dims["prop__functionName"] == "Functions.sync_customer_profile"
    assert dims["prop__reason"] == "(null)"
    assert dims["prop__invocationId"] == dims["InvocationId"]
    assert dims["prop__{OriginalFormat}"] == ("Executing '{functionName}' (Reason='{reason}', "
                                              "Id={invocationId})")
    assert dims["Category"] == "Function.sync_customer_profile"
    assert dims["LogLevel"] == "Information"
    assert re.fullmatch(r"[0-9a-f-]{36}", dims["HostInstanceId"]) and dims["ProcessId"].isdigit()
    assert "logger_name" not in dims
    assert run.kql("""traces | where tostring(customDimensions.Category) startswith "Function."
| where isnotempty(tostring(customDimensions.logger_name)) | count""") == [[0]]
    # `traces | where operation_Name == "<function>"` finds the function's own rows.
    assert sorted(m.split(" (")[0] for [m] in run.kql(
        'traces | where operation_Name == "sync_customer_profile" | project message')) == [
        "Executed 'Functions.sync_customer_profile'", "Executing 'Functions.sync_customer_profile'"]


def test_durable_tracking_traces_follow_the_run(run: RunHandle) -> None:
    """EndToEndTraceHelper's rows (Host.Triggers.DurableTask, on by default; the 3.x release
    with ClientOperationReceived, durable-extension #3326): started / scheduled / awaited /
    completed per instance, the activities' started / completed, inputs and outputs
    redacted (traceInputsAndOutputs off), replays left out (traceReplayEvents off)."""
    root = run.instance_id
    rows = run.kql("""traces
| where tostring(customDimensions.Category) == "Host.Triggers.DurableTask"
| project instance = tostring(customDimensions.prop__instanceId),
          fn = tostring(customDimensions.prop__functionName),
          state = tostring(customDimensions.prop__state),
          replay = tostring(customDimensions.prop__isReplay),
          ftype = tostring(customDimensions.prop__functionType), message, severityLevel""")
    steps = {(i, f, st) for i, f, st, _, _, _, _ in rows}
    child = f"{root}:customer-sync"
    for step in [(root, "parent_workflow_orchestrator", "Started"),
                 (root, "customer_sync_sub_orchestrator", "Scheduled"),
                 (root, "parent_workflow_orchestrator", "Awaited"),
                 (root, "parent_workflow_orchestrator", "Completed"),
                 (child, "sync_customer_profile", "Scheduled"),
                 (child, "sync_customer_profile", "Started"),
                 (child, "sync_customer_profile", "Completed")]:
        assert step in steps
    assert {r[3] for r in rows if r[2]} == {"False"} and {r[6] for r in rows} == {1}
    started = next(r[5] for r in rows if r[1] == "sync_customer_profile" and r[2] == "Started")
    assert started.startswith(f"{child}: Function 'sync_customer_profile (Activity)' started. "
                              "IsReplay: False. Input: (Redacted ")
    # TaskOrchestrationShim runs inside the orchestrator's invocation: its scope's keys.
    [[scoped_name, invocation]] = run.kql(f"""traces
| where tostring(customDimensions.Category) == "Host.Triggers.DurableTask"
| where tostring(customDimensions.prop__instanceId) == "{root}"
    and tostring(customDimensions.prop__state) == "Started"
| project operation_Name, tostring(customDimensions.InvocationId)""")
    assert scoped_name == "parent_workflow_orchestrator"
    assert run.kql(f"""traces | where message startswith "Executing 'Functions.parent_workflow"
    and tostring(customDimensions.InvocationId) == "{invocation}" | count""") == [[1]]
    # The starter's client call: its invocation id, from the SDK's
    # X-Azure-Functions-InvocationId header, joins the starter to the orchestration.
    (op,) = run.kql("""traces | where message startswith "Client operation 'StartOrchestration'"
| project tostring(customDimensions.prop__instanceId),
          tostring(customDimensions.prop__functionInvocationId)""")
    starter = run.kql("""traces
| where message startswith "Executing 'Functions.start_sub_orchestration'"
| project tostring(customDimensions.InvocationId)""")
    assert op == [root, starter[0][0]]
