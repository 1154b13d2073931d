"""The plugin's replay and its telemetry settings: bad input is a clear error naming what is
wrong, and nothing is sent off loopback."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from devhost.testing import DevhostError, DurableApp

REPO = Path(__file__).resolve().parents[2]
HAPPY = REPO / "tests" / "histories" / "recipe_happy.json"


def test_replay_names_an_unknown_orchestrator(durable_app_module: DurableApp) -> None:
    with pytest.raises(DevhostError, match=r"no orchestrator 'nope'.*known: "
                       r"customer_sync_sub_orchestrator"):
        durable_app_module.replay("nope", [])


@pytest.mark.parametrize(("history", "message"), [
    ({"EventType": 0}, "history must be a list"),
    ([{"EventType": "ExecutionStarted"}], r"history\[0\]\.EventType must be a number"),
    ([{"EventType": 12}], "no ExecutionStarted event"),
])
def test_replay_refuses_a_history_it_cannot_replay(durable_app_module: DurableApp,
                                                   history: object, message: str) -> None:
    with pytest.raises(DevhostError, match=message):
        durable_app_module.replay("parent_workflow_orchestrator", history)  # type: ignore[arg-type]


@pytest.mark.parametrize("setting", [
    {"APPLICATIONINSIGHTS_CONNECTION_STRING": "InstrumentationKey=k"},  # Azure's default
    {"APPLICATIONINSIGHTS_CONNECTION_STRING":
     "InstrumentationKey=k;IngestionEndpoint=https://westeurope-5.in.applicationinsights.azure.com/"},
    {"OTEL_EXPORTER_OTLP_ENDPOINT": "http://collector.example:4318"},
])
def test_telemetry_goes_nowhere_but_loopback(tmp_path: Path, setting: dict[str, str]) -> None:
    app = DurableApp(app_dir=REPO, data_dir=tmp_path / ".devhost", settings=setting)
    with pytest.raises(DevhostError, match=f"{next(iter(setting))} may point only at "
                       r"loopback \(127\.0\.0\.1, localhost, ::1\)"):
        app.base_url  # noqa: B018 - starting is what is refused
    assert not (tmp_path / ".devhost" / "devhost.ready.json").exists()


def test_telemetry_sent_to_the_tests_own_endpoint_is_not_read_locally(tmp_path: Path) -> None:
    app = DurableApp(app_dir=REPO, data_dir=tmp_path / ".devhost", settings={
        "OTEL_EXPORTER_OTLP_ENDPOINT": "http://127.0.0.1:9/"})
    with pytest.raises(DevhostError, match="not captured locally.*OTEL_EXPORTER_OTLP_ENDPOINT"):
        app.kql("requests")
    app.close()


# failing_app imports the recipe's telemetry/ and function_app from the repository's root
@pytest.mark.durable_app(module="failing_app", app_dir="tests/dashboards",
                         settings={"PYTHONPATH": str(REPO)})
def test_a_fresh_failed_runs_history_replays_to_its_failure(durable_app: DurableApp) -> None:
    """DurableTask.Core records a failure as ExecutionCompleted with OrchestrationStatus
    Failed (TaskOrchestrationExecutor); the replay must fail the same way."""
    run = durable_app.start("parent_workflow_orchestrator", None)
    assert run.wait().runtime_status == "Failed"
    history = run.history(raw=True)
    assert [e.get("OrchestrationStatus") for e in history if e["EventType"] == 1] == [3]
    replay = durable_app.replay("parent_workflow_orchestrator", history)
    assert replay.problems == [] and replay.error is not None
    # The same history claiming success is caught:
    claimed = [dict(e, OrchestrationStatus=1, Result='"ok"') if e["EventType"] == 1 else e
               for e in history]
    assert "history completed, the replay failed" in durable_app.replay(
        "parent_workflow_orchestrator", claimed).problems[0]


def test_another_output_than_recorded_is_caught(durable_app_module: DurableApp) -> None:
    fixtures = json.loads(HAPPY.read_text(encoding="utf-8"))
    child = next(f for f in fixtures if f["orchestrator"] == "customer_sync_sub_orchestrator")
    recorded = [dict(e, Result='{"step": "something else"}') if e["EventType"] == 1 else e
                for e in child["history"]]
    replay = durable_app_module.replay("customer_sync_sub_orchestrator", recorded)
    assert replay.decisions == replay.recorded
    assert replay.problems and replay.problems[0].startswith("output differs")
