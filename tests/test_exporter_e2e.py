"""A held-out run exported by the REAL Azure Monitor exporter (the app's own, in the worker,
and the host's) and read back from the App Insights tables it posted to: rows, ids and
columns are checked as App Insights stores them."""

from __future__ import annotations

import pytest

from devhost.testing import DurableApp, LogRecord, RunHandle, Span

STARTER = "/api/start-sub-orchestration"
ROLE = "sub-orchestration-e2e"
HELD_OUT = {"customer_id": "cust-4242", "customer_segment": "public-sector",
            "skus": ["SKU-9", "SKU-8", "SKU-7"]}

pytestmark = pytest.mark.durable_app(settings={"OTEL_SERVICE_NAME": ROLE})


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
    assert run.kql("union requests, dependencies, traces | distinct cloud_RoleName") == [[ROLE]]
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
