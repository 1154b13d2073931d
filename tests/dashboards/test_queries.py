"""Every workbook query: analysed by Microsoft's Kusto parser, executed on captured tables."""

from __future__ import annotations

import json
import subprocess
from pathlib import Path
from typing import Any

import pytest

from dashboards import build
from dashboards.schema import kusto_schema
from devhost.insights.query import run_kql

pytestmark = pytest.mark.host

TOOLS = Path(build.HERE) / "tools"


def analyse(queries: dict[str, str]) -> dict[str, list[dict[str, Any]]]:
    modules = TOOLS / "node_modules" / "@kusto" / "language-service-next"
    assert modules.exists(), "run `make test`: it installs the Kusto parser (npm ci)"
    proc = subprocess.run(["node", str(TOOLS / "kusto_check.js")], capture_output=True,
                          text=True, timeout=120,
                          input=json.dumps({"schema": kusto_schema(), "queries": queries}))
    assert proc.returncode == 0, proc.stderr
    return dict(json.loads(proc.stdout))


def test_every_query_has_zero_kusto_diagnostics() -> None:
    texts = {name: build.substitute(text, root="root-id", child="root-id:customer-sync")
             for name, text in build.queries().items()}
    assert set(texts) == {v[0] for v in build.VIEWS}
    problems = {name: [f"line {texts[name][:d['start']].count(chr(10)) + 1}: {d['message']}"
                       for d in found] for name, found in analyse(texts).items() if found}
    assert problems == {}


def test_the_kusto_check_does_catch_mistakes() -> None:
    found = analyse({"typo": "requests | where sucess == true",
                     "bad_table": "request | take 1"})
    assert found["typo"] and found["bad_table"]


def test_committed_workbook_equals_a_fresh_build() -> None:
    assert build.main(["--check"]) == 0
    document = json.loads(build.WORKBOOK.read_text())
    assert document["version"] == "Notebook/1.0"
    by_name = {item["name"]: item for item in document["items"]}
    for name, text in build.queries().items():
        content = by_name[name]["content"]
        assert content["query"] == text
        assert content["resourceType"] == "microsoft.insights/components"
    arm = json.loads(build.ARM.read_text())
    workbook = arm["resources"][0]
    assert workbook["type"] == "Microsoft.Insights/workbooks"
    assert json.loads(arm["variables"]["workbook"]) == document
    assert "fallbackResourceIds" in workbook["properties"]["serializedData"]
    assert "newGuid" not in workbook["name"] + arm["parameters"]["workbookId"]["defaultValue"]


def _rows(db: Path, name: str, **params: str) -> list[dict[str, Any]]:
    columns, rows = run_kql(db, build.substitute(build.queries()[name], **params))
    return [dict(zip(columns, row, strict=True)) for row in rows]


def test_runs_view_has_one_row_per_parent_with_both_children(insights_db: dict[str, Any]
                                                             ) -> None:
    happy, failed = insights_db["happy"]["instanceId"], insights_db["failed"]["instanceId"]
    rows = {r["root"]: r for r in _rows(insights_db["db"], "runs")}
    assert set(rows) == {happy, failed}
    ok = rows[happy]
    assert ok["status"] == "Completed"
    assert ok["customerChild"] == f"{happy}:customer-sync"
    assert ok["inventoryChild"] == f"{happy}:inventory-sync"
    assert ok["customerStatus"] == ok["inventoryStatus"] == "Completed"
    assert ok["runMs"] > 0 and ok["customerMs"] >= 0
    bad = rows[failed]
    assert bad["status"] == "Failed"
    assert (bad["customerStatus"], bad["inventoryStatus"]) == ("Completed", "Failed")


def test_failures_view_names_the_failing_child_and_its_parent(insights_db: dict[str, Any]
                                                              ) -> None:
    failed = insights_db["failed"]["instanceId"]
    rows = _rows(insights_db["db"], "failures")
    assert len(rows) == 1
    row = rows[0]
    assert (row["root"], row["parent"]) == (failed, failed)
    assert row["child"] == f"{failed}:inventory-sync"
    assert row["childName"] == "inventory_sync_sub_orchestrator"
    assert row["activity"] == "build_inventory_snapshot"
    assert "inventory service unavailable" in row["outerMessage"]


def test_run_tree_and_child_logs(insights_db: dict[str, Any]) -> None:
    happy = insights_db["happy"]["instanceId"]
    tree = _rows(insights_db["db"], "run_tree", root=happy)
    names = [r["name"] for r in tree]
    for expected in ("start_orchestration:parent_workflow_orchestrator",
                     "orchestration:parent_workflow_orchestrator",
                     "orchestration:customer_sync_sub_orchestrator",
                     "run_activity:build_inventory_snapshot"):
        assert expected in names
    ids = {r["id"] for r in tree}
    # Every row hangs under another row of the run but the host's HTTP request row (named
    # after the starter function), the root.
    assert [r["name"] for r in tree if r["operation_ParentId"] not in ids] == [
        "start_sub_orchestration"]
    logs = _rows(insights_db["db"], "child_logs", child=f"{happy}:customer-sync")
    assert [(r["message"], r["spanName"]) for r in logs] == [
        ("Synced customer profile", "run_activity:sync_customer_profile")]
    assert logs[0]["root"] == logs[0]["parent"] == happy


def test_latency_and_host_rows(insights_db: dict[str, Any]) -> None:
    latency = _rows(insights_db["db"], "latency")
    units = {r["unit"] for r in latency}
    assert {"orchestration:customer_sync_sub_orchestrator",
            "run_activity:sync_customer_profile"} <= units
    assert all(r["p95"] >= r["p50"] for r in latency)
    host = _rows(insights_db["db"], "host_rows")
    joined = [r for r in host if r["appSpan"]]
    assert len(host) == 4 and len(joined) == 4
    assert {r["hostSpan"].split(":")[1] for r in joined} == {
        r["appSpan"].split(":")[1] for r in joined}
