"""The failing run as Application Insights stores it on Azure: host rows from Durable tracing
V2 (DurableTask.Core TraceHelper, rows by DurableTask.ApplicationInsights
DurableTelemetryModule.CreateTelemetry) and the app's rows, one chain under one operation id.
"""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import pytest

from devhost.insights.query import run_kql

pytestmark = pytest.mark.host


def _rows(db: Path, kql: str) -> list[dict[str, Any]]:
    columns, rows = run_kql(db, kql)
    return [dict(zip(columns, row, strict=True)) for row in rows]


def _operation(db: Path, root: str) -> str:
    [row] = _rows(db, f"""dependencies
| where name startswith "create_orchestration:"
    and tostring(customDimensions["durabletask.task.instance_id"]) == "{root}"
| project operation_Id""")
    return str(row["operation_Id"])


def _run(db: Path, root: str) -> list[dict[str, Any]]:
    op = _operation(db, root)
    rows = _rows(db, f"""union requests, dependencies, exceptions, traces
| where operation_Id == "{op}"
| project itemType, id, operation_ParentId, operation_Id, name, type, resultCode, success,
          url, itemCount, iKey, appId, itemId, customDimensions, outerMessage, message,
          innermostMessage""")
    for row in rows:
        row["dims"] = json.loads(row["customDimensions"] or "{}")
    return rows


def test_failing_inventory_run_is_one_chain_under_one_operation(insights_db: dict[str, Any]
                                                                ) -> None:
    """PRODUCER create_orchestration → SERVER orchestration → CLIENT/SERVER sub-orchestration
    → CLIENT/SERVER activity → the app's run_activity span, its log and its exception, with the
    statuses DurableTelemetryModule.CreateTelemetry gives them (request resultCode 200/500,
    success = status not Error; dependency type DurableTask, InProc for INTERNAL)."""
    db, root = insights_db["db"], insights_db["failed"]["instanceId"]
    rows = _run(db, root)
    spans = {r["id"]: r for r in rows if r["itemType"] in ("request", "dependency")}
    [app_span] = [r for r in spans.values() if r["name"] == "run_activity:build_inventory_snapshot"]
    chain = [app_span]
    while chain[-1]["operation_ParentId"] in spans:
        chain.append(spans[chain[-1]["operation_ParentId"]])
    shape = [(r["itemType"], r["name"], r["type"], r["resultCode"] if r["itemType"] == "request"
              else None, bool(r["success"])) for r in chain]
    assert shape == [
        ("dependency", "run_activity:build_inventory_snapshot", "InProc", None, False),
        ("request", "activity:build_inventory_snapshot", None, "500", False),
        ("dependency", "activity:build_inventory_snapshot", "DurableTask", None, False),
        ("request", "orchestration:inventory_sync_sub_orchestrator", None, "500", False),
        ("dependency", "orchestration:inventory_sync_sub_orchestrator", "DurableTask", None,
         False),
        ("request", "orchestration:parent_workflow_orchestrator", None, "500", False),
        ("dependency", "create_orchestration:parent_workflow_orchestrator", "DurableTask", None,
         True),
        ("dependency", "start_orchestration:parent_workflow_orchestrator", "InProc", None, True),
        ("request", "start", None, "202", True),
    ]
    # Two exception rows: the app's, under its span, and the host's (the WebJobs logger's
    # LogFunctionResult logs the failure under Activity.Current, the SERVER activity span).
    # The app's log, once, under its span, with the run's keys.
    [log] = [r for r in rows if r["itemType"] == "trace"
             and r["message"] == "Inventory service unavailable"]
    assert log["operation_ParentId"] == app_span["id"]
    assert log["dims"]["app.durable.root_instance_id"] == root
    # The app's exception row under its span; the host's two per failed invocation
    # (`Executed '…' (Failed)` of Function.<name>, and Host.Results) under the Activity the
    # invocation ran in: the activity's SERVER span, and each failed orchestrator episode's
    # orchestration span (azure-webjobs-sdk f79ea0b ApplicationInsightsLogger.LogException).
    errors = [r for r in rows if r["itemType"] == "exception"]
    [app_error] = [e for e in errors if "Category" not in e["dims"]]
    assert app_error["operation_ParentId"] == app_span["id"]
    assert "inventory service unavailable" in app_error["outerMessage"]
    by_parent: dict[str, list[str]] = {}
    for e in errors:
        if e is not app_error:
            by_parent.setdefault(e["operation_ParentId"], []).append(e["dims"]["Category"])
            assert "inventory service unavailable" in e["innermostMessage"]
    assert {k: sorted(v) for k, v in by_parent.items()} == {
        chain[1]["id"]: ["Function.snapshot", "Host.Results"],
        chain[3]["id"]: ["Function.inventory", "Host.Results"],
        chain[5]["id"]: ["Function.parent", "Host.Results"]}
    server, client = chain[1], chain[2]
    assert server["dims"]["durabletask.task.task_id"] == client["dims"][
        "durabletask.task.task_id"] == "0"
    assert chain[3]["dims"]["durabletask.task.status"] == "Failed"
    assert chain[5]["dims"]["durabletask.task.status"] == "Failed"
    assert "durabletask.task.execution_id" not in chain[5]["dims"]
    assert chain[6]["dims"]["durabletask.task.execution_id"]
    assert len({r["operation_Id"] for r in rows}) == 1
    # The customer side succeeded: its rows are 200 / success.
    customer = [r for r in spans.values() if "customer" in r["name"]]
    assert len(customer) == 5 and all(r["success"] for r in customer)
    assert {r["resultCode"] for r in customer if r["itemType"] == "request"} == {"200"}


def test_host_http_row_is_named_after_the_function_without_the_query(
        insights_db: dict[str, Any]) -> None:
    """WebJobs' request row for an HTTP trigger: the function's name, the URL without its
    query (the starter was called with `?code=`), HttpMethod/HttpPath in customDimensions."""
    db, root = insights_db["db"], insights_db["failed"]["instanceId"]
    [row] = [r for r in _run(db, root) if r["itemType"] == "request" and r["name"] == "start"]
    assert row["url"].endswith("/api/start-sub-orchestration")
    assert "code=" not in row["url"]
    assert row["dims"]["HttpMethod"] == "POST"
    assert row["dims"]["HttpPath"] == "/api/start-sub-orchestration"
    # FunctionResultState tags; Name and Succeeded become the row's name and success
    # (WebJobsTelemetryInitializer.TryApplyProperty), so they are not dimensions.
    assert row["dims"]["FullName"] == "Functions.start"
    assert row["dims"]["Category"] == "Host.Results" and row["dims"]["InvocationId"]
    assert "Name" not in row["dims"] and "Succeeded" not in row["dims"]


def test_local_columns_item_count_ikey_and_app_id(insights_db: dict[str, Any]) -> None:
    """itemCount from the sender's sample rate, iKey its own column, appId not the key, and
    itemId a GUID per row (not the span id)."""
    db, root = insights_db["db"], insights_db["happy"]["instanceId"]
    rows = _run(db, root)
    assert {r["itemCount"] for r in rows} == {1}
    assert len({r["iKey"] for r in rows}) == 1 and rows[0]["iKey"]
    assert all(r["appId"] and r["appId"] != r["iKey"] for r in rows)
    assert len({r["itemId"] for r in rows}) == len(rows)
    assert not {r["itemId"] for r in rows} & {r["id"] for r in rows}
