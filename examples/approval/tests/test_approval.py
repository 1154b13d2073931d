"""The approval app's tests: written only against the durable_app fixtures, as in a user's
project (no devhost imports; `pip install` of devhost is all the setup).

The tests with the app's default settings share one devhost (`durable_app_module`); those that
change a setting or turn timer skipping off get their own (`durable_app` and the marker)."""

from __future__ import annotations

from datetime import datetime

import pytest

ORDERS = "/api/orders"


def test_small_orders_ship_at_once(durable_app_module):
    run = durable_app_module.http("POST", ORDERS, json={"order_id": "o-1", "amount": 20})
    assert run.response.status == 202
    status = run.wait()
    assert status.runtime_status == "Completed"
    assert status.output["decision"] == "auto-approved"
    (span,) = run.spans(name="run_activity:ship_order")
    assert span.attributes["app.durable.root_instance_id"] == run.instance_id
    assert run.logs(message="Shipped order")[0].attributes["order_id"] == "o-1"
    assert run.kql("dependencies | where name startswith 'run_activity:' | count") == [[1]]


def test_an_unanswered_order_escalates_after_the_window_without_waiting_a_day(
        durable_app_module):
    run = durable_app_module.http("POST", ORDERS, json={"order_id": "o-2", "amount": 5000})
    status = run.wait()
    assert status.runtime_status == "Completed"
    assert status.output["decision"] == "timed-out"
    # The orchestration saw the day pass: it decided 24 h after it started.
    started = datetime.fromisoformat(run.history()[0]["Timestamp"])
    decided = datetime.fromisoformat(status.output["decided_at"])
    assert (decided - started).total_seconds() >= 24 * 3600
    escalated = run.logs(message="Escalated order")
    assert [r.attributes["order_id"] for r in escalated] == ["o-2"]
    assert escalated[0].severity_level == 2  # warning
    assert [e["EventType"] for e in run.history()].count("TimerFired") == 1


@pytest.mark.durable_app(skip_timers=False)
def test_an_approval_event_ships_the_order(durable_app):
    run = durable_app.http("POST", ORDERS, json={"order_id": "o-3", "amount": 5000})
    assert run.wait(timeout=1).runtime_status == "Running"  # the 24 h timer really waits
    run.raise_event("Approval", {"approved": True})
    status = run.wait()
    assert status.output["decision"] == "approved"
    assert run.spans(name="run_activity:escalate_order") == []
    events = [e["EventType"] for e in run.history()]
    assert "EventRaised" in events and "TimerFired" not in events


@pytest.mark.durable_app(skip_timers=False)
def test_a_rejection_escalates(durable_app):
    run = durable_app.http("POST", ORDERS, json={"order_id": "o-4", "amount": 5000})
    run.raise_event("Approval", {"approved": False})
    assert run.wait().output["decision"] == "rejected"
    assert len(run.spans(name="run_activity:escalate_order")) == 1


@pytest.mark.durable_app(settings={"AUTO_APPROVE_LIMIT": "10000"})
def test_the_limit_is_a_setting(durable_app):
    run = durable_app.http("POST", ORDERS, json={"order_id": "o-5", "amount": 5000})
    assert run.wait().output["decision"] == "auto-approved"


def test_bad_orders_are_refused(durable_app_module):
    before = len(durable_app_module.instances())
    run = durable_app_module.http("POST", ORDERS, json={"order_id": "o-6", "amount": -1})
    assert run.response.status == 400
    assert run.response.headers["content-type"].startswith("application/json")
    assert run.response.json() == {"error": "amount must be a positive number",
                                   "field": "amount"}
    assert run.instance_id is None
    assert len(durable_app_module.instances()) == before  # nothing started
