"""Host logs shaped as the .NET side shapes them (devhost/host/hostlog.py), with the real
Azure Monitor exporter's envelopes and no process.

Sources: azure-webjobs-sdk f79ea0b (appinsights-v3.0.42) ApplicationInsightsLogger.cs
(prop__ prefix, ApplyKnownProperties, LogException), WebJobsTelemetryInitializer.cs,
WebJobsRoleEnvironmentTelmetryInitializer.cs, IRoleInstanceProvider.cs; azure-functions-host
89dc438 ScriptTelemetryInitializer.cs; Microsoft.Extensions.Logging LoggerRuleSelector.
"""

from __future__ import annotations

import itertools
import os
from collections.abc import Iterator
from typing import Any

import pytest
from azure.monitor.opentelemetry.exporter import AzureMonitorLogExporter
from opentelemetry.sdk._logs import LoggerProvider
from opentelemetry.sdk._logs.export import InMemoryLogRecordExporter, SimpleLogRecordProcessor
from opentelemetry.trace.propagation.tracecontext import TraceContextTextMapPropagator

from devhost.host.hostlog import (
    DotnetException,
    HostLogger,
    Level,
    LogLevels,
    Scope,
    format_message,
    role_tags,
    shape_log_envelope,
)
from devhost.host.logs import EXECUTING, invocation_exception
from devhost.host.sampling import AdaptiveEstimator, SamplingSettings
from devhost.host.telemetry import OFFLINE_SWITCHES

TRACEPARENT = "00-0af7651916cd43dd8448eb211c80319c-b7ad6b7169203331-01"


@pytest.fixture
def captured(monkeypatch: pytest.MonkeyPatch
             ) -> Iterator[tuple[HostLogger, InMemoryLogRecordExporter, Any]]:
    memory = InMemoryLogRecordExporter()
    provider = LoggerProvider()
    provider.add_log_record_processor(SimpleLogRecordProcessor(memory))
    for key in OFFLINE_SWITCHES:
        monkeypatch.setenv(key, "true")
    exporter = AzureMonitorLogExporter(
        connection_string="InstrumentationKey=00000000-0000-0000-0000-000000000001;"
                          "IngestionEndpoint=http://127.0.0.1:9", disable_offline_storage=True)
    yield HostLogger(logger=provider.get_logger("Host")), memory, exporter
    provider.shutdown()


def _envelopes(memory: InMemoryLogRecordExporter, exporter: Any) -> list[Any]:
    return [shape_log_envelope(exporter._log_to_envelope(r), r.log_record.attributes)
            for r in memory.get_finished_logs()]


def test_an_executing_row_has_the_keys_the_host_writes(captured: Any,
                                                        monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("WEBSITE_CLOUD_ROLENAME", "my-role")
    monkeypatch.setenv("WEBSITE_INSTANCE_ID", "instance-7")
    logger, memory, exporter = captured
    context = TraceContextTextMapPropagator().extract({"traceparent": TRACEPARENT})
    values = [("functionName", "Functions.greet"), ("reason", "(null)"),
              ("invocationId", "5f1b2a3c-0000-4000-8000-000000000001")]
    assert logger.log("Function.greet", Level.INFORMATION, EXECUTING, values, event_id=1,
                      event_name="FunctionStarted",
                      scope=Scope("5f1b2a3c-0000-4000-8000-000000000001", "greet", context))
    (envelope,) = _envelopes(memory, exporter)
    data = envelope.data.base_data
    assert data.message == ("Executing 'Functions.greet' (Reason='(null)', "
                            "Id=5f1b2a3c-0000-4000-8000-000000000001)")
    props = dict(data.properties)
    assert props.pop("ProcessId") == str(os.getpid())
    assert len(props.pop("HostInstanceId")) == 36
    assert props == {
        "InvocationId": "5f1b2a3c-0000-4000-8000-000000000001",
        "prop__functionName": "Functions.greet", "prop__reason": "(null)",
        "prop__invocationId": "5f1b2a3c-0000-4000-8000-000000000001",
        "prop__{OriginalFormat}": EXECUTING, "Category": "Function.greet",
        "LogLevel": "Information", "EventId": "1", "EventName": "FunctionStarted"}
    tags = envelope.tags
    assert tags["ai.operation.name"] == "greet"
    assert tags["ai.operation.id"] == "0af7651916cd43dd8448eb211c80319c"
    assert tags["ai.operation.parentId"] == "b7ad6b7169203331"
    assert tags["ai.cloud.role"] == "my-role" and tags["ai.cloud.roleInstance"] == "instance-7"


def test_a_log_with_an_exception_is_an_exceptions_row_and_a_trace(captured: Any) -> None:
    logger, memory, exporter = captured
    chain = invocation_exception("boom", "ValueError: nope", "File x, line 1")
    logger.log("Function.boom", Level.ERROR, "Executed '{functionName}'",
               [("functionName", "Functions.boom")], event_id=3, exception=chain)
    exception, trace = _envelopes(memory, exporter)
    assert trace.data.base_type == "MessageData" and trace.data.base_data.severity_level == 3
    assert exception.data.base_type == "ExceptionData"
    details = exception.data.base_data.exceptions
    assert [d.type_name for d in details] == [
        "Microsoft.Azure.WebJobs.Host.FunctionInvocationException",
        "Microsoft.Azure.WebJobs.Script.Workers.Rpc.RpcException"]
    assert details[0].message == "Exception while executing function: Functions.boom"
    assert details[1].message == ("Result: Failure\nException: ValueError: nope\n"
                                  "Stack: File x, line 1")
    assert details[1].outer_id == details[0].id
    props = exception.data.base_data.properties
    assert props["FormattedMessage"] == "Executed 'Functions.boom'"
    assert "exception.type" not in props and "logger_name" not in props
    # Outside any operation: no operation id (not the exporter's zeros).
    assert "ai.operation.id" not in exception.tags


def test_a_result_without_a_message_is_an_exceptions_row_only(captured: Any) -> None:
    logger, memory, exporter = captured
    logger.log("Host.Results", Level.ERROR, "", [("Succeeded", False)], message="",
               exception=[DotnetException("System.Exception", "x")])
    (only,) = _envelopes(memory, exporter)
    assert only.data.base_type == "ExceptionData"
    assert only.data.base_data.properties["prop__Succeeded"] == "False"
    assert "FormattedMessage" not in only.data.base_data.properties


def test_adaptive_sampling_of_traces_sets_item_count(captured: Any) -> None:
    """Above maxTelemetryItemsPerSecond the estimator lowers the percentage; kept traces
    carry sampleRate (itemCount = 100 / rate), whole operations kept or dropped; excluded
    types pass untouched."""
    _, memory, exporter = captured
    ticks = itertools.count()

    def clock() -> float:  # 100 items per second
        return next(ticks) * 0.01

    settings = SamplingSettings(max_items_per_second=20, evaluation_interval=1,
                                decrease_timeout=0, excluded=frozenset({"exception"}))
    logger = HostLogger(sampling=settings, estimator=AdaptiveEstimator(settings, clock=clock),
                        logger=captured[0].logger)
    for i in range(200):
        tp = f"00-{os.urandom(16).hex()}-b7ad6b7169203331-01"
        logger.log("Function.f.User", Level.INFORMATION, "", [], message=f"line {i}",
                   traceparent=tp)
    envelopes = _envelopes(memory, exporter)
    assert 0 < len(envelopes) < 200
    # 100 items per second against 20: 20 %, each kept one standing for 5.
    assert {e.sample_rate for e in envelopes} == {None, 20.0}
    memory.clear()
    logger.log("Function.f", Level.ERROR, "", [], message="",
               exception=[DotnetException("System.Exception", "x")])
    (excluded,) = _envelopes(memory, exporter)
    assert excluded.sample_rate in (None, 100.0)


def test_log_levels_pick_the_longest_matching_category() -> None:
    levels = LogLevels.from_host_json({"logging": {"logLevel": {
        "default": "Warning", "Function": "Information", "Function.noisy.User": "Error",
        "Host.Triggers.DurableTask": "None"}}})
    assert levels.enabled("Function.greet", Level.INFORMATION)
    assert not levels.enabled("Function.noisy.User", Level.WARNING)
    assert levels.enabled("Function.noisy", Level.INFORMATION)
    assert not levels.enabled("Host.Triggers.DurableTask", Level.CRITICAL)
    assert not levels.enabled("Host.Results", Level.INFORMATION)
    assert LogLevels().enabled("anything", Level.INFORMATION)
    assert not LogLevels().enabled("anything", Level.DEBUG)
    with pytest.raises(ValueError, match="logging.logLevel.Function: 'Loud'"):
        LogLevels.from_host_json({"logging": {"logLevel": {"Function": "Loud"}}})


def test_a_filtered_category_writes_nothing(captured: Any) -> None:
    _, memory, _ = captured
    logger = HostLogger(levels=LogLevels.from_host_json(
        {"logging": {"logLevel": {"Host.Triggers.DurableTask": "Warning"}}}),
        logger=captured[0].logger)
    assert not logger.log("Host.Triggers.DurableTask", Level.INFORMATION, "x", [])
    assert logger.log("Host.Triggers.DurableTask", Level.ERROR, "x", [])
    assert len(memory.get_finished_logs()) == 1


def test_role_tags_follow_the_webjobs_initializers(monkeypatch: pytest.MonkeyPatch) -> None:
    for key in ("WEBSITE_CLOUD_ROLENAME", "WEBSITE_SITE_NAME", "WEBSITE_SLOT_NAME",
                "WEBSITE_INSTANCE_ID", "COMPUTERNAME", "CONTAINER_NAME"):
        monkeypatch.delenv(key, raising=False)
    assert "ai.cloud.role" not in role_tags() and role_tags()["ai.cloud.roleInstance"]
    monkeypatch.setenv("WEBSITE_SITE_NAME", "MySite")
    monkeypatch.setenv("WEBSITE_SLOT_NAME", "Staging")
    assert role_tags()["ai.cloud.role"] == "mysite-staging"
    monkeypatch.setenv("WEBSITE_CLOUD_ROLENAME", "Named")
    monkeypatch.setenv("COMPUTERNAME", "box")
    assert role_tags() == {"ai.cloud.role": "Named", "ai.cloud.roleInstance": "box"}


def test_messages_fill_holes_in_order_as_dotnet_prints_values() -> None:
    assert format_message("{a} {b}: {c}", [("a", True), ("b", None), ("c", 3)]) == \
        "True (null): 3"
