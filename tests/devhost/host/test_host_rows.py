"""The host's own rows with Durable distributed tracing V2 off, as a user's `devhost start`
files them (tests/devhost/apps/hostrows_app: V2 off, `Host.Triggers.DurableTask` at Warning).

Sources: azure-webjobs-sdk f79ea0b (appinsights-v3.0.42),
src/Microsoft.Azure.WebJobs.Logging.ApplicationInsights/ApplicationInsightsLogger.cs
(StartTelemetryIfFunctionInvocation: no Activity → a request row named after the function;
LogFunctionResult / LogException: a log with an exception is an exceptions row),
src/Microsoft.Azure.WebJobs.Host/Loggers/FunctionInstanceLogger.cs (Executed … Failed, with
the failure's exception); azure-functions-host 89dc438 RpcException.cs and the worker
protocol's RpcLog (no exception field: a Python `log.exception(...)` is text only);
Azure/azure-functions-durable-extension EndToEndTraceHelper (the Durable category's levels).
"""

from __future__ import annotations

import json
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest

from devhost.insights.query import run_kql
from tests.hosting import start

from ..support import APPS

pytestmark = pytest.mark.host


@pytest.fixture(scope="module")
def finished(tmp_path_factory: pytest.TempPathFactory) -> Iterator[dict[str, Any]]:
    """One run that logs a caught exception and then fails in an activity, then a clean
    stop so every row is exported."""
    host = start(Path(tmp_path_factory.mktemp("hostrows")), APPS / "hostrows_app")
    try:
        status = host.run("rows_run")
    finally:
        host.stop()
    yield {"status": status, "db": host.data_dir / "insights.duckdb"}


def _kql(finished: dict[str, Any], query: str) -> list[list[Any]]:
    return [list(row) for row in run_kql(finished["db"], query)[1]]


def test_an_activity_that_raises_writes_an_exceptions_row_with_its_message(
        finished: dict[str, Any]) -> None:
    assert finished["status"]["runtimeStatus"] == "Failed"
    rows = _kql(finished, """exceptions
| where tostring(customDimensions.Category) == "Function.raises"
| project type, outerMessage, innermostMessage, severityLevel,
          tostring(customDimensions.FormattedMessage)""")
    assert len(rows) == 1
    kind, outer, innermost, severity, formatted = rows[0]
    assert kind == "Microsoft.Azure.WebJobs.Host.FunctionInvocationException"
    assert outer == "Exception while executing function: Functions.raises"
    assert "ValueError: activity raised on purpose: second" in innermost
    assert severity == 3 and formatted.startswith("Executed 'Functions.raises' (Failed, Id=")
    # LogFunctionResult: the result's own exception row (Host.Results, no message), under
    # the invocation's request.
    (result,) = _kql(finished, """exceptions
| where tostring(customDimensions.Category) == "Host.Results" and operation_Name == "raises"
| project type, innermostMessage, tostring(customDimensions.prop__Succeeded),
          tostring(customDimensions.prop__FullName), isempty(customDimensions.FormattedMessage)""")
    assert result[0] == "Microsoft.Azure.WebJobs.Host.FunctionInvocationException"
    assert "ValueError: activity raised on purpose: second" in result[1]
    assert result[2:] == ["False", "Functions.raises", True]


def test_a_caught_log_exception_is_a_trace_and_no_exceptions_row(
        finished: dict[str, Any]) -> None:
    """The RpcLog carries the traceback as text: one traces row, no exceptions row."""
    assert _kql(finished, """exceptions
| where tostring(customDimensions.Category) startswith "Function.caught"
    or tostring(details) has "caught and logged on purpose" | count""") == [[0]]
    (row,) = _kql(finished, """traces
| where tostring(customDimensions.Category) == "Function.caught.User"
| project message, severityLevel""")
    assert row[0].startswith("handled: first") and "Traceback" in row[0]
    assert "KeyError: 'caught and logged on purpose'" in row[0] and row[1] == 3


def test_every_invocation_is_a_request_row_when_v2_is_off(finished: dict[str, Any]) -> None:
    """Orchestrator episodes included; named after the function, resultCode 0, success the
    function's outcome, and its Executing/Executed rows under it."""
    rows = _kql(finished, """requests
| project name, resultCode, success, operation_Name, id, operation_Id,
          invocation = tostring(customDimensions.InvocationId)""")
    names = sorted(r[0] for r in rows)
    assert names.count("rows_run") >= 2 and names.count("caught") == 1
    assert names.count("raises") == 1 and set(names) == {"rows_run", "caught", "raises"}
    assert {r[1] for r in rows} == {"0"}
    assert {(r[0], r[2]) for r in rows if r[0] != "rows_run"} == {("caught", True),
                                                                   ("raises", False)}
    assert all(r[3] == r[0] for r in rows)
    by_invocation = {r[6]: (r[4], r[5]) for r in rows}
    executing = _kql(finished, """traces | where message startswith "Executing '"
| project tostring(customDimensions.InvocationId), operation_ParentId, operation_Id""")
    assert len(executing) == len(rows)
    for invocation, parent, operation in executing:
        assert by_invocation[invocation] == (parent, operation)


def test_log_level_warning_for_the_durable_category_keeps_only_its_warnings_and_errors(
        finished: dict[str, Any]) -> None:
    """host.json logging.logLevel "Host.Triggers.DurableTask": "Warning": no started /
    scheduled / completed rows; the failures (LogError) remain."""
    rows = _kql(finished, """traces
| where tostring(customDimensions.Category) == "Host.Triggers.DurableTask"
| project tostring(customDimensions.LogLevel), tostring(customDimensions.prop__state),
          tostring(customDimensions.prop__functionName), customDimensions""")
    assert sorted((r[0], r[1], r[2]) for r in rows) == [
        ("Error", "Failed", "raises"), ("Error", "Failed", "rows_run")]
    # The orchestrator's row in its invocation's scope: the episode's own request operation.
    failed = _kql(finished, """traces
| where tostring(customDimensions.Category) == "Host.Triggers.DurableTask"
    and tostring(customDimensions.prop__functionName) == "rows_run"
| project operation_Id, operation_Name, tostring(customDimensions.InvocationId)""")
    requests = _kql(finished, """requests | where name == "rows_run"
| project operation_Id, tostring(customDimensions.InvocationId)""")
    assert len(failed) == 1 and failed[0][1] == "rows_run"
    assert [failed[0][0], failed[0][2]] in requests
    dims = json.loads(rows[0][3])
    assert dims["prop__functionType"] in ("Activity", "Orchestrator")
    assert dims["prop__hubName"] and dims["prop__{OriginalFormat}"].startswith(
        "{instanceId}: Function '{functionName} ({functionType})' failed with an error.")
