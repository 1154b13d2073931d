"""The recipe end to end on `devhost start`, as a user runs it: the app in devhost's worker
process, its spans and logs read where its exporter sent them (local Application Insights).
The correlation crosses the process boundary only through the invocation's trace_context."""

from __future__ import annotations

import json
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest

from devhost.durable.store import Store
from devhost.insights.query import run_kql
from telemetry import attributes as attr

from ..hosting import REPO, Host, start
from .support import start_and_wait

pytestmark = pytest.mark.host

STARTER = "/api/start-sub-orchestration"
HELD_OUT = {"customer_id": "cust-7", "customer_segment": "smb", "skus": ["A", "B", "C"]}


def _start_and_wait(host: Host, body: Any = None) -> tuple[dict[str, Any], dict[str, Any]]:
    return start_and_wait(host.base + STARTER, body)


@pytest.fixture(scope="module")
def runs(tmp_path_factory: pytest.TempPathFactory) -> Iterator[dict[str, Any]]:
    """Three runs (default input, a held-out input, one more), then a clean stop so the
    worker's exporters flush."""
    tmp = Path(tmp_path_factory.mktemp("recipe"))
    (tmp / "system-tmp").mkdir()
    host = start(tmp, REPO, OTEL_SERVICE_NAME="recipe-test", TMPDIR=str(tmp / "system-tmp"))
    try:
        done = {name: _start_and_wait(host, body) for name, body in (
            ("default", None), ("held_out", HELD_OUT), ("cust9", {"customer_id": "cust-9"}))}
    finally:
        console = host.stop()
    yield {"runs": done, "db": host.data_dir / "insights.duckdb", "console": console,
           "system_tmp": tmp / "system-tmp", "data_dir": host.data_dir,
           "store": host.data_dir / "durable.sqlite"}


def _rows(db: Path, kql: str) -> list[dict[str, Any]]:
    columns, rows = run_kql(db, kql)
    return [dict(zip(columns, row, strict=True)) for row in rows]


def _dims(row: dict[str, Any]) -> dict[str, Any]:
    dims = row["customDimensions"]
    return dict(json.loads(dims) if isinstance(dims, str) else dims or {})


def test_default_input_gives_the_seed_output(runs: dict[str, Any]) -> None:
    started, final = runs["runs"]["default"]
    assert final["runtimeStatus"] == "Completed"
    output = final["output"]
    assert output["instanceId"] == started["id"] and output["status"] == "completed"
    assert output["customer"] == {"step": "customer_sync", "customerId": "cust-1001",
                                  "segment": "enterprise", "status": "completed"}
    inventory = output["inventory"]
    assert {k: inventory[k] for k in ("step", "skuCount", "status")} == {
        "step": "inventory_sync", "skuCount": 2, "status": "completed"}


def test_held_out_input_and_deterministic_child_ids(runs: dict[str, Any]) -> None:
    started, final = runs["runs"]["held_out"]
    root = started["id"]
    assert final["output"]["customer"]["customerId"] == "cust-7"
    assert final["output"]["inventory"]["skuCount"] == 3
    store = Store(runs["store"])
    try:
        children = {c.instance_id: c for c in store.query_instances(prefix=f"{root}:")}
    finally:
        store.close()
    assert set(children) == {f"{root}:customer-sync", f"{root}:inventory-sync"}
    assert {c.parent_instance_id for c in children.values()} == {root}


def test_spans_carry_correlation_and_share_one_trace(runs: dict[str, Any]) -> None:
    root = runs["runs"]["cust9"][0]["id"]
    db = runs["db"]
    app = _rows(db, f"""dependencies
| where tostring(customDimensions["{attr.ROOT_INSTANCE_ID}"]) == "{root}"
| project id, name, operation_Id, operation_ParentId, customDimensions""")
    spans = {r["name"]: r for r in app}
    operation = {r["operation_Id"] for r in app}
    assert len(operation) == 1
    everything = _rows(db, f"""union requests, dependencies, traces
| where operation_Id == "{next(iter(operation))}" | summarize n = count()""")
    assert everything[0]["n"] > len(app)  # the host's rows are in the same trace
    starter = spans["start_orchestration:parent_workflow_orchestrator"]
    assert _dims(starter) == {
        attr.TYPE: "orchestration", attr.TASK_NAME: "parent_workflow_orchestrator",
        attr.INSTANCE_ID: root, attr.ROLE: "starter", attr.ROOT_INSTANCE_ID: root,
        attr.PARENT_INSTANCE_ID: "", attr.ORCHESTRATION_NAME: "parent_workflow_orchestrator"}
    hosts = {r["name"]: r for r in _rows(db, f"""requests
| where operation_Id == "{starter["operation_Id"]}" | project id, name""")}
    for activity, suffix, child in (
            ("sync_customer_profile", "customer-sync", "customer_sync_sub_orchestrator"),
            ("build_inventory_snapshot", "inventory-sync", "inventory_sync_sub_orchestrator")):
        span = spans[f"run_activity:{activity}"]
        assert _dims(span) == {
            attr.TYPE: "activity", attr.TASK_NAME: activity,
            attr.INSTANCE_ID: f"{root}:{suffix}", attr.ROLE: "activity",
            attr.ROOT_INSTANCE_ID: root, attr.PARENT_INSTANCE_ID: root,
            attr.ORCHESTRATION_NAME: child}
        # Parented to the host's activity span through context.trace_context: the only
        # way across the process boundary.
        assert span["operation_ParentId"] == hosts[f"activity:{activity}"]["id"]
    keys = {k for r in app for k in _dims(r)}
    assert not any(k.startswith(("http.", "db.", "net.", "code.", "exception."))
                   for k in keys)


def test_logs_carry_the_same_keys_and_are_parented_to_their_span(
        runs: dict[str, Any]) -> None:
    root = runs["runs"]["default"][0]["id"]
    db = runs["db"]
    spans = {r["id"]: r for r in _rows(db, f"""dependencies
| where tostring(customDimensions["{attr.ROOT_INSTANCE_ID}"]) == "{root}"
| project id, name, operation_Id, customDimensions""")}
    records = {r["message"]: r for r in _rows(db, f"""traces
| where tostring(customDimensions["{attr.ROOT_INSTANCE_ID}"]) == "{root}"
| project message, operation_Id, operation_ParentId, customDimensions""")}
    assert set(records) == {"Started parent workflow orchestration",
                            "Synced customer profile", "Built inventory snapshot"}
    for message, span_name in (
            ("Started parent workflow orchestration",
             "start_orchestration:parent_workflow_orchestrator"),
            ("Synced customer profile", "run_activity:sync_customer_profile"),
            ("Built inventory snapshot", "run_activity:build_inventory_snapshot")):
        record = records[message]
        span = spans[record["operation_ParentId"]]
        assert span["name"] == span_name
        assert record["operation_Id"] == span["operation_Id"]
        for key in (attr.ROOT_INSTANCE_ID, attr.PARENT_INSTANCE_ID, attr.INSTANCE_ID,
                    attr.ROLE, attr.TASK_NAME):
            assert _dims(record)[key] == _dims(span)[key], (message, key)
    assert str(_dims(records["Built inventory snapshot"])["sku_count"]) == "2"


def test_the_banner_says_where_telemetry_goes_and_how_to_see_a_run(runs: dict[str, Any]
                                                                  ) -> None:
    console = runs["console"]
    assert f"Telemetry: local Application Insights, {runs['db']}" in console
    assert "python -m devhost insights run <instanceId>" in console
    # and, like func start, a line per invocation
    assert "Executed 'Functions.start_sub_orchestration' (Succeeded, Id=" in console


def test_quiet_keeps_only_failures_on_the_console(tmp_path: Path) -> None:
    host = start(tmp_path, REPO, "function_app", "--quiet")
    try:
        _start_and_wait(host)
    finally:
        console = host.stop()
    assert "Executing 'Functions." not in console and "Executed 'Functions." not in console
    assert "Telemetry: local Application Insights" in console


def test_the_exporters_offline_storage_stays_in_the_data_folder(runs: dict[str, Any]) -> None:
    """A loopback endpoint's retry storage (the exporter's Microsoft-AzureMonitor-* folder
    under the temp folder) is the data folder's, not the system temp folder's."""
    assert list(runs["system_tmp"].iterdir()) == []
    assert list((runs["data_dir"] / "tmp").glob("Microsoft-AzureMonitor-*/opentelemetry-python-*"))
