"""Bad input to the starter: a JSON 4xx naming the field, and no orchestration started."""

from __future__ import annotations

import json

import pytest

from devhost.testing import DurableApp
from workflow import DEFAULT_INPUT, MAX_BODY_BYTES, InputError, parse_workflow_input

STARTER = "/api/start-sub-orchestration"

BAD = [
    (b"{not json", 400, "body"),
    (b"[1, 2]", 400, "body"),
    (b'"a string"', 400, "body"),
    (b"null", 400, "body"),
    (b"42", 400, "body"),
    (b'{"customer_id": 5}', 400, "customer_id"),
    (b'{"customer_id": ""}', 400, "customer_id"),
    (b'{"customer_id": "   "}', 400, "customer_id"),
    (b'{"customer_segment": null}', 400, "customer_segment"),
    (b'{"skus": "SKU-1"}', 400, "skus"),
    (b'{"skus": ["ok", ""]}', 400, "skus[1]"),
    (b'{"skus": ["ok", 7]}', 400, "skus[1]"),
    (b'{"colour": "red"}', 400, "colour"),
    (json.dumps({"skus": [f"S{i}" for i in range(1001)]}).encode(), 400, "skus"),
    (b'{"customer_id": "a\\nInjected: 1"}', 400, "customer_id"),
    (b"\xff\xfe not utf-8", 400, "body"),
    (b"[" * 100_000 + b"]" * 100_000, 413, "body"),
    (b'{"customer_id": "' + b"x" * MAX_BODY_BYTES + b'"}', 413, "body"),
]


@pytest.mark.parametrize(("body", "status", "field"), BAD)
def test_rejected_without_starting_anything(durable_app_module: DurableApp, body: bytes,
                                            status: int, field: str) -> None:
    before = len(durable_app_module.instances())
    run = durable_app_module.http("POST", STARTER, data=body)
    reply = run.response
    assert reply is not None and reply.status == status, reply
    assert reply.headers["Content-Type"].startswith("application/json")
    assert reply.json()["field"] == field and reply.json()["error"]
    assert run.instance_id is None
    assert len(durable_app_module.instances()) == before


def test_deeply_nested_json_is_a_400_not_a_crash() -> None:
    body = b"[" * 20_000 + b"]" * 20_000
    with pytest.raises(InputError) as err:
        parse_workflow_input(body)
    assert (err.value.status, err.value.field) == (400, "body")


def test_partial_object_is_completed_from_defaults() -> None:
    parsed = parse_workflow_input(b'{"skus": ["X"]}')
    assert parsed == {**DEFAULT_INPUT, "skus": ["X"]}


def test_wrong_method_is_405(durable_app_module: DurableApp) -> None:
    reply = durable_app_module.http("GET", STARTER).response
    assert reply is not None
    assert reply.status == 405 and reply.json()["allowed"] == ["POST"]


def test_a_valid_body_gets_202_and_the_check_status_response(
        durable_app_module: DurableApp) -> None:
    run = durable_app_module.http("POST", STARTER, json={"skus": ["X"]})
    reply = run.response
    assert reply is not None and reply.status == 202
    # DurableOrchestrationClient.create_check_status_response's payload
    assert {"id", "statusQueryGetUri", "sendEventPostUri", "terminatePostUri",
            "purgeHistoryDeleteUri"} <= set(reply.json())
    assert reply.json()["id"] == run.instance_id
    final = run.wait()
    assert final.output["customer"]["customerId"] == DEFAULT_INPUT["customer_id"]
    assert final.output["inventory"]["skus"] == ["X"]


def test_the_limits_are_inclusive() -> None:
    assert len(parse_workflow_input(json.dumps({"skus": ["S"] * 1000}).encode())["skus"]) == 1000
    body = json.dumps({"customer_id": "x" * (MAX_BODY_BYTES - 20)}).encode()
    assert len(body) <= MAX_BODY_BYTES
    assert parse_workflow_input(body)["customer_id"].startswith("x")
