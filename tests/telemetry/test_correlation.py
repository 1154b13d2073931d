"""The correlation record inside every durable input: what it refuses, what it tolerates."""

from __future__ import annotations

import pytest

from telemetry.correlation import Correlation, CorrelationError, unwrap

BASE = {"root_instance_id": "r", "parent_instance_id": "", "instance_id": "r:c",
        "orchestration_name": "child", "activity_name": "", "trace": {"traceparent": "00-x"}}


def test_a_newer_deploys_extra_key_is_ignored() -> None:
    """After a rollback, history recorded by the newer code is replayed by the older: its
    correlation records must still read."""
    correlation, payload = unwrap({"correlation": {**BASE, "tenant": "t-1"}, "payload": 7,
                                   "schema": 2})
    assert correlation == Correlation.from_dict(BASE) and payload == 7


@pytest.mark.parametrize(("data", "message"), [
    ({**BASE, "instance_id": 3}, "'correlation.instance_id' must be a string"),
    ({**BASE, "trace": {"traceparent": 1}}, "'correlation.trace' must map strings"),
    ({**BASE, "root_instance_id": ""}, "needs root_instance_id and instance_id"),
    ("not an object", "'correlation' must be an object"),
])
def test_known_keys_are_still_checked(data: object, message: str) -> None:
    with pytest.raises(CorrelationError, match=message):
        Correlation.from_dict(data)
