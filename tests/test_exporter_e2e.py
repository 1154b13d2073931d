"""A held-out run on devhost in its own process, exported by the REAL Azure Monitor exporter
to a loopback ingestion endpoint this test starts: envelopes and tables are checked."""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path
from typing import Any

import pytest

from devhost.insights.ingest import IngestionServer
from devhost.insights.query import run_kql

REPO = Path(__file__).resolve().parents[1]

HELD_OUT = {"customer_id": "cust-4242", "customer_segment": "public-sector",
            "skus": ["SKU-9", "SKU-8", "SKU-7"]}


@pytest.fixture(scope="module")
def captured_run(tmp_path_factory: pytest.TempPathFactory) -> dict[str, Any]:
    tmp = Path(tmp_path_factory.mktemp("e2e"))
    with IngestionServer(tmp / "insights.duckdb", keep_envelopes=1000) as server:
        env = {k: v for k, v in os.environ.items() if not k.startswith(("OTEL_", "TELEMETRY_"))}
        env.update(APPLICATIONINSIGHTS_CONNECTION_STRING=server.connection_string,
                   OTEL_SERVICE_NAME="sub-orchestration-e2e", PYTHONPATH=str(REPO))
        proc = subprocess.run(
            [sys.executable, "-m", "devhost", "run", "parent_workflow_orchestrator",
             "--input", json.dumps(HELD_OUT), "--data-dir", str(tmp / "data")],
            cwd=REPO, env=env, capture_output=True, text=True, timeout=120)
        assert proc.returncode == 0, proc.stderr
        status = json.loads(proc.stdout[: proc.stdout.rindex("}") + 1])
        return {"status": status, "envelopes": list(server.ingestion.envelopes),
                "db": server.store.path}


def _props(envelope: dict[str, Any]) -> dict[str, str]:
    return dict(envelope["data"]["baseData"].get("properties") or {})


def test_held_out_output(captured_run: dict[str, Any]) -> None:
    output = captured_run["status"]["output"]
    assert captured_run["status"]["runtimeStatus"] == "Completed"
    assert output["customer"]["customerId"] == "cust-4242"
    assert output["customer"]["segment"] == "public-sector"
    assert output["inventory"]["skuCount"] == 3


def test_envelopes_carry_ids_under_one_operation(captured_run: dict[str, Any]) -> None:
    root = captured_run["status"]["instanceId"]
    # The exporter also sends one `_OTELRESOURCE_` metric per batch; spans and logs only:
    envelopes = [e for e in captured_run["envelopes"] if e["data"]["baseType"] != "MetricData"]
    kinds = {e["data"]["baseType"] for e in envelopes}
    assert {"RequestData", "RemoteDependencyData", "MessageData"} <= kinds
    assert len({e["tags"]["ai.operation.id"] for e in envelopes}) == 1
    assert {e["tags"]["ai.cloud.role"] for e in envelopes} == {"sub-orchestration-e2e"}
    ids = {e["data"]["baseData"].get("id") for e in envelopes}
    activities = [e for e in envelopes if _props(e).get("app.durable.role") == "activity"]
    assert len(activities) == 2 + 2  # two spans and two logs
    for envelope in activities:
        props = _props(envelope)
        assert props["app.durable.root_instance_id"] == root
        assert props["app.durable.parent_instance_id"] == root
        assert props["durabletask.task.instance_id"] in (f"{root}:customer-sync",
                                                          f"{root}:inventory-sync")
        assert envelope["tags"]["ai.operation.parentId"] in ids
    children = [e for e in envelopes if e["data"]["baseData"].get("name", "").startswith(
        "orchestration:")]
    assert {_props(e)["durabletask.task.instance_id"] for e in children} == {
        root, f"{root}:customer-sync", f"{root}:inventory-sync"}


def test_tables_answer_kql(captured_run: dict[str, Any]) -> None:
    root = captured_run["status"]["instanceId"]
    columns, rows = run_kql(captured_run["db"], f"""dependencies
| where tostring(customDimensions["app.durable.root_instance_id"]) == "{root}"
| project name, child = tostring(customDimensions["durabletask.task.instance_id"]),
          operation_Id, type, success
| order by name asc""")
    assert [r[0] for r in rows] == ["run_activity:build_inventory_snapshot",
                                    "run_activity:sync_customer_profile"]
    assert {r[1] for r in rows} == {f"{root}:customer-sync", f"{root}:inventory-sync"}
    assert {r[3] for r in rows} == {"InProc"} and all(r[4] for r in rows)
    _, traces = run_kql(captured_run["db"], f"""traces
| where tostring(customDimensions["app.durable.root_instance_id"]) == "{root}"
| project message, severityLevel""")
    assert sorted(t[0] for t in traces) == ["Built inventory snapshot",
                                           "Synced customer profile"]
    assert {t[1] for t in traces} == {1}
    _, ops = run_kql(captured_run["db"], "union requests, dependencies, traces "
                                         "| summarize n = count() by operation_Id")
    assert len(ops) == 1


def test_each_app_log_lands_once_beside_the_hosts_rows(captured_run: dict[str, Any]) -> None:
    """Under the host's handling (worker RpcLogs and Executing/Executed rows go to traces,
    as classic-mode App Insights does) every app log is in `traces` exactly once: the
    app's exporter's copy, since its logger does not propagate to the worker's root handler."""
    _, rows = run_kql(captured_run["db"], """traces
| project message, category = tostring(customDimensions.Category)""")
    app = sorted(m for m, category in rows if not category)
    assert app == ["Built inventory snapshot", "Synced customer profile"]
    assert not [m for m, category in rows if category.endswith(".User")]
    host = {(m.split(" (")[0], category) for m, category in rows if category}
    for name in ("parent_workflow_orchestrator", "customer_sync_sub_orchestrator",
                 "sync_customer_profile", "build_inventory_snapshot"):
        assert (f"Executed 'Functions.{name}'", f"Function.{name}") in host
