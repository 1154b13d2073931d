"""The recipe end to end on devhost: output, correlation on spans and logs, one trace."""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path

import pytest

from devhost.server import BackgroundHost
from telemetry import attributes as attr

from .recipe import captured, recipe_host, start_and_wait


@pytest.fixture(scope="module")
def host(tmp_path_factory: pytest.TempPathFactory) -> Iterator[BackgroundHost]:
    with recipe_host(Path(tmp_path_factory.mktemp("recipe"))) as background:
        yield background


def test_default_input_gives_the_seed_output(host: BackgroundHost) -> None:
    started, final = start_and_wait(host)
    root = started["id"]
    assert final["runtimeStatus"] == "Completed"
    output = final["output"]
    assert output["instanceId"] == root and output["status"] == "completed"
    assert output["customer"] == {"step": "customer_sync", "customerId": "cust-1001",
                                  "segment": "enterprise", "status": "completed"}
    inventory = output["inventory"]
    assert {k: inventory[k] for k in ("step", "skuCount", "status")} == {
        "step": "inventory_sync", "skuCount": 2, "status": "completed"}


def test_held_out_input_and_deterministic_child_ids(host: BackgroundHost) -> None:
    body = {"customer_id": "cust-7", "customer_segment": "smb", "skus": ["A", "B", "C"]}
    started, final = start_and_wait(host, body)
    root = started["id"]
    assert final["output"]["customer"]["customerId"] == "cust-7"
    assert final["output"]["inventory"]["skuCount"] == 3
    engine = host.server.engine
    children = {c.instance_id: c for c in engine.store.query_instances(prefix=f"{root}:")}
    assert set(children) == {f"{root}:customer-sync", f"{root}:inventory-sync"}
    assert {c.parent_instance_id for c in children.values()} == {root}


def test_spans_carry_correlation_and_share_one_trace(host: BackgroundHost) -> None:
    with captured() as (spans, _):
        started, _ = start_and_wait(host, {"customer_id": "cust-9"})
    root = started["id"]
    finished = spans.get_finished_spans()
    assert len({s.context.trace_id for s in finished}) == 1, [s.name for s in finished]
    app_spans = {s.name: s for s in finished if s.attributes.get(attr.ROLE)}
    starter = app_spans["start_orchestration:parent_workflow_orchestrator"]
    assert dict(starter.attributes) == {
        attr.TYPE: "orchestration", attr.TASK_NAME: "parent_workflow_orchestrator",
        attr.INSTANCE_ID: root, attr.ROLE: "starter", attr.ROOT_INSTANCE_ID: root,
        attr.PARENT_INSTANCE_ID: "", attr.ORCHESTRATION_NAME: "parent_workflow_orchestrator"}
    for activity, suffix, child in (
            ("sync_customer_profile", "customer-sync", "customer_sync_sub_orchestrator"),
            ("build_inventory_snapshot", "inventory-sync", "inventory_sync_sub_orchestrator")):
        span = app_spans[f"run_activity:{activity}"]
        assert dict(span.attributes) == {
            attr.TYPE: "activity", attr.TASK_NAME: activity,
            attr.INSTANCE_ID: f"{root}:{suffix}", attr.ROLE: "activity",
            attr.ROOT_INSTANCE_ID: root, attr.PARENT_INSTANCE_ID: root,
            attr.ORCHESTRATION_NAME: child}
        host_span = next(s for s in finished if s.name == f"activity:{activity}")
        assert span.parent.span_id == host_span.context.span_id
    keys = {k for s in app_spans.values() for k in s.attributes}
    assert not any(k.startswith(("http.", "db.", "net.", "code.", "exception."))
                   for k in keys)


def test_logs_carry_the_same_keys_and_are_parented_to_their_span(
        host: BackgroundHost) -> None:
    with captured() as (spans, logs):
        started, _ = start_and_wait(host)
    root = started["id"]
    by_id = {s.context.span_id: s for s in spans.get_finished_spans()}
    records = {r.log_record.body: r.log_record for r in logs.get_finished_logs()}
    assert set(records) >= {"Started parent workflow orchestration",
                            "Synced customer profile", "Built inventory snapshot"}
    for message, span_name in (
            ("Started parent workflow orchestration",
             "start_orchestration:parent_workflow_orchestrator"),
            ("Synced customer profile", "run_activity:sync_customer_profile"),
            ("Built inventory snapshot", "run_activity:build_inventory_snapshot")):
        record = records[message]
        span = by_id[record.span_id]
        assert span.name == span_name
        assert record.trace_id == span.context.trace_id
        for key in (attr.ROOT_INSTANCE_ID, attr.PARENT_INSTANCE_ID, attr.INSTANCE_ID,
                    attr.ROLE, attr.TASK_NAME):
            assert record.attributes[key] == span.attributes[key], (message, key)
        assert record.attributes[attr.ROOT_INSTANCE_ID] == root
    assert records["Built inventory snapshot"].attributes["sku_count"] == 2
