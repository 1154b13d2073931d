"""A caller's sampled flag never drops the app's spans: the run is kept whole in App Insights.

The host hands the app the caller's flag, or 00 without a caller
(tests/devhost/host/test_trace_flags.py names the host's source). The app must not obey
it: its sampler decides per run by trace id (telemetry.config.run_sampler), so a run started
by an unsampled caller — or by none — still has every app span and log. A `ParentBased`
sampler would drop the starter's span, and with it everything the starter's context reaches.
"""

from __future__ import annotations

import secrets

import pytest

from devhost.testing import DurableApp

STARTER = "/api/start-sub-orchestration"
CALLER_SPAN = "00f067aa0ba902b7"


@pytest.mark.parametrize("flag", ["00", "01"])
def test_the_run_is_kept_whole_whatever_the_callers_flag(durable_app_module: DurableApp,
                                                         flag: str) -> None:
    trace_id = secrets.token_hex(16)
    run = durable_app_module.http("POST", STARTER, headers={
        "traceparent": f"00-{trace_id}-{CALLER_SPAN}-{flag}"})
    assert run.wait().runtime_status == "Completed"
    spans = run.spans()
    by_name = {s.name: s for s in spans}
    assert {"start_orchestration:parent_workflow_orchestrator",
            "run_activity:sync_customer_profile", "run_activity:build_inventory_snapshot",
            "orchestration:parent_workflow_orchestrator"} <= set(by_name)
    # One trace, the caller's; the host's request row continues the caller's span.
    assert {s.operation_id for s in spans} == {trace_id}
    assert by_name["start_sub_orchestration"].parent_id == CALLER_SPAN
    assert {"Started parent workflow orchestration", "Synced customer profile",
            "Built inventory snapshot"} <= {r.message for r in run.logs()}
    # Each activity's span sits under the host's activity span (handed back with the
    # starter's own flag through Durable's V2 tree), not under the caller's context.
    hosts = {s.id for s in run.spans(name="activity:*") if s.item_type == "request"}
    for name in ("run_activity:sync_customer_profile", "run_activity:build_inventory_snapshot"):
        assert by_name[name].parent_id in hosts
