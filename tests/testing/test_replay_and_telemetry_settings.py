"""The plugin's replay and its telemetry settings: bad input is a clear error naming what is
wrong, and nothing is sent off loopback."""

from __future__ import annotations

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
                       "127.0.0.1"):
        app.base_url  # noqa: B018 - starting is what is refused
    assert not (tmp_path / ".devhost" / "devhost.ready.json").exists()


def test_telemetry_sent_to_the_tests_own_endpoint_is_not_read_locally(tmp_path: Path) -> None:
    app = DurableApp(app_dir=REPO, data_dir=tmp_path / ".devhost", settings={
        "OTEL_EXPORTER_OTLP_ENDPOINT": "http://127.0.0.1:9/"})
    with pytest.raises(DevhostError, match="not captured locally.*OTEL_EXPORTER_OTLP_ENDPOINT"):
        app.kql("requests")
    app.close()
