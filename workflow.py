"""The recipe's business input and results: validated at the edge, typed everywhere."""

from __future__ import annotations

import json
from typing import Any, TypedDict

MAX_BODY_BYTES = 64 * 1024
MAX_SKUS = 1000


class WorkflowInput(TypedDict):
    customer_id: str
    customer_segment: str
    skus: list[str]


class CustomerResult(TypedDict):
    step: str
    customerId: str
    segment: str
    status: str


class InventoryResult(TypedDict):
    step: str
    skuCount: int
    skus: list[str]
    status: str


class WorkflowResult(TypedDict):
    instanceId: str
    customer: CustomerResult
    inventory: InventoryResult
    status: str


DEFAULT_INPUT: WorkflowInput = {"customer_id": "cust-1001", "customer_segment": "enterprise",
                                "skus": ["SKU-100", "SKU-200"]}


class InputError(ValueError):
    """A rejected request body: HTTP status, message and the offending field."""

    def __init__(self, status: int, message: str, field: str) -> None:
        super().__init__(message)
        self.status = status
        self.field = field

    def body(self) -> str:
        return json.dumps({"error": str(self), "field": self.field})


def _non_empty_string(value: Any, field: str) -> str:
    if not isinstance(value, str) or not value.strip():
        raise InputError(400, f"'{field}' must be a non-empty string", field)
    if any(ord(c) < 32 or c == "\x7f" for c in value):
        raise InputError(400, f"'{field}' must not contain control characters", field)
    return value


def parse_workflow_input(body: bytes) -> WorkflowInput:
    """Empty body → defaults; a partial object fills the rest from the defaults; anything
    but an object (`null`, a list, a string, a number) is refused."""
    if len(body) > MAX_BODY_BYTES:
        raise InputError(413, f"body is larger than {MAX_BODY_BYTES} bytes", "body")
    if not body.strip():
        return workflow_input(None)
    try:
        data = json.loads(body)
    except (UnicodeDecodeError, json.JSONDecodeError, RecursionError) as exc:
        raise InputError(400, f"body is not valid JSON: {exc}", "body") from exc
    if not isinstance(data, dict):  # `null` too: only an empty body means "the defaults"
        raise InputError(400, "body must be a JSON object", "body")
    return workflow_input(data, "body")


def workflow_input(data: Any, where: str = "input") -> WorkflowInput:
    """The same rules for a decoded input, so an orchestration started without the HTTP
    starter (the management API, `devhost run`, a test) gets the defaults the starter gives."""
    if data is None:
        return {**DEFAULT_INPUT, "skus": list(DEFAULT_INPUT["skus"])}
    if not isinstance(data, dict):
        raise InputError(400, f"{where} must be a JSON object", where)
    unknown = sorted(set(data) - set(DEFAULT_INPUT))
    if unknown:
        raise InputError(400, f"unknown field '{unknown[0]}'", unknown[0])
    skus = data.get("skus", DEFAULT_INPUT["skus"])
    if not isinstance(skus, list):
        raise InputError(400, "'skus' must be a list of non-empty strings", "skus")
    if len(skus) > MAX_SKUS:
        raise InputError(400, f"'skus' must hold at most {MAX_SKUS} items", "skus")
    return {
        "customer_id": _non_empty_string(data.get("customer_id", DEFAULT_INPUT["customer_id"]),
                                         "customer_id"),
        "customer_segment": _non_empty_string(
            data.get("customer_segment", DEFAULT_INPUT["customer_segment"]), "customer_segment"),
        "skus": [_non_empty_string(sku, f"skus[{i}]") for i, sku in enumerate(skus)],
    }
