"""The Durable extension's tracking traces (devhost/durable/tracking.py) as EndToEndTraceHelper
writes them, without a process.

Sources: Azure/azure-functions-durable-extension EndToEndTraceHelper.cs (the 3.x release with
ClientOperationReceived, #3326: templates, levels, SanitizeString, ShouldLogEvent) and
HttpApiHandler.cs at 00812bc (LogClientOperationReceived: the operation names, GUID-only
X-Azure-Functions-InvocationId).
"""

from __future__ import annotations

from collections.abc import Iterator
from typing import Any

import pytest
from aiohttp.test_utils import make_mocked_request
from opentelemetry.sdk._logs import LoggerProvider
from opentelemetry.sdk._logs.export import InMemoryLogRecordExporter, SimpleLogRecordProcessor

from devhost.durable.tracking import (
    ACTIVITY,
    ORCHESTRATOR,
    Tracking,
    client_operation,
    invocation_id_header,
)
from devhost.host.hostlog import HostLogger, LogLevels

GUID = "0f8fad5b-d9cb-469f-a165-70867728950e"


@pytest.fixture
def rows() -> Iterator[tuple[InMemoryLogRecordExporter, HostLogger]]:
    memory = InMemoryLogRecordExporter()
    provider = LoggerProvider()
    provider.add_log_record_processor(SimpleLogRecordProcessor(memory))
    yield memory, HostLogger(logger=provider.get_logger("Host"))
    provider.shutdown()


def _attributes(memory: InMemoryLogRecordExporter) -> list[dict[str, Any]]:
    return [dict(r.log_record.attributes or {}) | {"message": r.log_record.body,
                                                    "level": r.log_record.severity_text}
            for r in memory.get_finished_logs()]


def test_started_row_has_the_helpers_values_and_redacts_the_input(rows: Any) -> None:
    memory, logger = rows
    tracking = Tracking("MyHub", logger=lambda: logger)
    tracking.function_starting("greet", "abc", '"Tokyo"', ACTIVITY, task_event_id=0)
    (row,) = _attributes(memory)
    assert row["message"].startswith(
        "abc: Function 'greet (Activity)' started. IsReplay: False. Input: (Redacted 7 "
        "characters). State: Started. RuntimeStatus: Running. HubName: MyHub. AppName: . "
        "SlotName: . ExtensionVersion: ")
    assert row["message"].endswith("SequenceNumber: 0. TaskEventId: 0")
    assert row["Category"] == "Host.Triggers.DurableTask" and row["level"] == "Information"
    assert (row["prop__instanceId"], row["prop__functionName"], row["prop__functionType"],
            row["prop__isReplay"], row["prop__state"]) == ("abc", "greet", "Activity", "False",
                                                           "Started")
    assert row["prop__{OriginalFormat}"].startswith("{instanceId}: Function '{functionName} "
                                                    "({functionType})' started.")
    assert "EventId" not in row  # EventId 0 is not written


def test_replays_are_left_out_unless_trace_replay_events(rows: Any) -> None:
    memory, logger = rows
    Tracking(logger=lambda: logger).function_starting("o", "i", None, ORCHESTRATOR,
                                                      is_replay=True)
    assert _attributes(memory) == []
    Tracking(trace_replay_events=True, trace_inputs_and_outputs=True,
             logger=lambda: logger).function_starting("o", "i", '{"a": 1}', ORCHESTRATOR,
                                                      is_replay=True)
    (row,) = _attributes(memory)
    assert row["prop__isReplay"] == "True" and row["prop__input"] == '{"a": 1}'


def test_levels_and_sequence_numbers(rows: Any) -> None:
    memory, logger = rows
    tracking = Tracking(logger=lambda: logger)
    tracking.function_scheduled("child", "p", "parent", ORCHESTRATOR, target_instance_id="p:1")
    tracking.function_failed("parent", "p", "boom", ORCHESTRATOR)
    tracking.function_terminated("parent", "q", "stop")
    scheduled, failed, terminated = _attributes(memory)
    assert scheduled["message"].endswith("TargetInstanceId: p:1.")
    assert [r["level"] for r in (scheduled, failed, terminated)] == [
        "Information", "Error", "Warning"]
    assert [r["prop__sequenceNumber"] for r in (scheduled, failed, terminated)] == ["0", "1", "2"]
    assert terminated["prop__reason"] == "(Redacted 4 characters)"


def test_log_level_of_the_category_filters_rows_not_sequence_numbers(rows: Any) -> None:
    memory, _ = rows
    logger = HostLogger(levels=LogLevels.from_host_json(
        {"logging": {"logLevel": {"Host.Triggers.DurableTask": "Warning"}}}),
        logger=rows[1].logger)
    tracking = Tracking(logger=lambda: logger)
    tracking.function_awaited("o", "i")
    tracking.client_operation_received("StartOrchestration", "i", GUID)
    tracking.function_failed("o", "i", "x", ORCHESTRATOR)
    (row,) = _attributes(memory)
    # `this.sequenceNumber++` is evaluated as an argument, whatever the level lets through.
    assert row["prop__state"] == "Failed" and row["prop__sequenceNumber"] == "2"


def test_client_operations_are_named_as_http_api_handler_names_them() -> None:
    assert client_operation("POST", "/orchestrators/hello") == ("StartOrchestration", "")
    assert client_operation("POST", "/orchestrators/hello/id-1") == ("StartOrchestration",
                                                                     "id-1")
    assert client_operation("GET", "/instances/id-1") == ("GetInstance", "id-1")
    assert client_operation("GET", "/instances/") == ("QueryInstances", "")
    assert client_operation("DELETE", "/instances/id-1") == ("PurgeInstances", "id-1")
    assert client_operation("DELETE", "/instances") == ("PurgeInstances", "(filter)")
    assert client_operation("POST", "/instances/id-1/raiseEvent/go") == ("RaiseEvent", "id-1")
    assert client_operation("POST", "/instances/id-1/terminate") == ("Terminate", "id-1")
    assert client_operation("POST", "/instances/id-1/rewind") == ("Rewind", "id-1")
    assert client_operation("GET", "/entities/Counter/k") == ("GetEntity", "@counter@k")
    assert client_operation("POST", "/entities/Counter/k") == ("SignalEntity", "@counter@k")
    assert client_operation("GET", "/entities") == ("QueryEntities", "")
    assert client_operation("POST", "/makeprimary") is None


def test_only_a_guid_invocation_id_is_taken() -> None:
    def header(value: str) -> str | None:
        return invocation_id_header(make_mocked_request(
            "GET", "/", headers={"X-Azure-Functions-InvocationId": value}))

    assert header(GUID) == GUID
    assert header("not-a-guid\nforged line") is None
    assert invocation_id_header(make_mocked_request("GET", "/")) is None


def test_a_client_operation_without_an_invocation_id_writes_nothing(rows: Any) -> None:
    memory, logger = rows
    Tracking(logger=lambda: logger).client_operation_received("GetInstance", "i", None)
    assert _attributes(memory) == []
