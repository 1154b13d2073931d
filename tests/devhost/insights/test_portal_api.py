"""The portal's server side, with no process: its routes on an in-process ingestion server,
the runs query the page sends (web/runs.kql) on rows filed here, workbook parameters as a
workbook substitutes them, and the user frame `insights run` prints. The pages themselves
are checked in Chromium against `devhost start` (test_portal.py)."""

from __future__ import annotations

import json
from collections.abc import Iterator
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import pytest

from devhost.insights.envelopes import Row
from devhost.insights.ingest import IngestionServer
from devhost.insights.parameters import (
    ParameterError,
    TimeRange,
    parse_assignments,
    substitute,
    unset,
)
from devhost.insights.portal import WEB
from devhost.insights.query import run_kql
from devhost.insights.view import Failure

from ..support import http

REPO = Path(__file__).resolve().parents[3]
NOW = datetime.now(UTC).replace(tzinfo=None)


def _span(table: str, op: str, span: str, parent: str | None, name: str, *,
          instance: str = "", success: bool = True, at: float = 0.0) -> Row:
    dims = {"durabletask.task.instance_id": instance} if instance else {}
    return Row(table, {"timestamp": NOW + timedelta(milliseconds=at), "operation_Id": op,
                       "operation_ParentId": parent, "id": span, "name": name,
                       "itemType": "request" if table == "requests" else "dependency",
                       "duration": 5.0, "success": success,
                       "customDimensions": json.dumps(dims)})


@pytest.fixture()
def server(tmp_path: Path) -> Iterator[IngestionServer]:
    (tmp_path / "dashboards").mkdir()
    (tmp_path / "dashboards" / "a.workbook").write_text(json.dumps(
        {"version": "Notebook/1.0", "items": []}))
    with IngestionServer(tmp_path / "i.duckdb") as running:
        running.portal.workbooks = tmp_path / "dashboards"
        yield running


def _runs(db: Path) -> dict[str, dict[str, Any]]:
    runs = substitute((WEB / "runs.kql").read_text(), {"TimeRange": TimeRange.parse("1h")})
    columns, rows = run_kql(db, runs)
    return {r[columns.index("operation_Id")]: dict(zip(columns, r, strict=True)) for r in rows}


def test_runs_are_root_operations_with_their_status(server: IngestionServer) -> None:
    server.store.insert([
        # Started through the management API, its orchestration not finished: Running.
        _span("dependencies", "op-running", "r1", None, "create_orchestration:hello",
              instance="i-run"),
        # A starter's request, the orchestration's SERVER row written at its end.
        _span("requests", "op-done", "d1", None, "start", at=1),
        _span("dependencies", "op-done", "d2", "d1", "create_orchestration:hello",
              instance="i-done", at=2),
        _span("requests", "op-done", "d3", "d2", "orchestration:hello", instance="i-done", at=3),
        # A failed activity under a finished orchestration: Failed.
        _span("dependencies", "op-failed", "f1", None, "create_orchestration:hello",
              instance="i-fail", at=4),
        _span("requests", "op-failed", "f2", "f1", "orchestration:hello", instance="i-fail",
              success=False, at=5),
        Row("exceptions", {"timestamp": NOW, "operation_Id": "op-failed",
                           "operation_ParentId": "f2", "type": "RuntimeError"}),
    ])
    runs = _runs(server.store.path)
    assert {op: (r["root"], r["status"], r["items"]) for op, r in runs.items()} == {
        "op-running": ("create_orchestration:hello", "Running", 1),
        "op-done": ("start", "Completed", 3),
        "op-failed": ("create_orchestration:hello", "Failed", 3)}
    assert [i for i in json.loads(runs["op-done"]["instances"]) if i] == ["i-done"]


def test_portal_pages_and_workbooks_are_served_on_loopback_names_only(
        server: IngestionServer) -> None:
    base = server.portal_url
    status, page, _ = http("GET", base)
    assert status == 200 and "/insights/static/portal.js" in page
    for name in ("portal.js", "kit.js", "workbook.js", "portal.css", "runs.kql"):
        assert http("GET", base + "static/" + name)[0] == 200, name
    assert http("GET", base + "static/../portal.py")[0] == 404
    assert http("GET", base + "api/config")[1] == {"managementUrl": None,
                                                  "workbooks": ["a.workbook"]}
    assert http("GET", base + "api/workbooks/a.workbook")[1]["version"] == "Notebook/1.0"
    assert http("GET", base + "api/workbooks/..%2Fi.duckdb")[0] == 404
    for host in ("localhost", "127.0.0.1", "[::1]"):
        assert http("GET", base + "api/config", headers={"Host": host})[0] == 200, host
    for host in ("attacker.example", "127.0.0.1.nip.io", "10.0.0.1"):
        status, body, _ = http("GET", base + "api/config", headers={"Host": host})
        assert (status, body["field"]) == (403, "Host"), host


def test_portal_query_substitutes_parameters_and_takes_kql_only(
        server: IngestionServer) -> None:
    server.store.insert([_span("requests", "op", "s1", None, "start")])
    url = server.portal_url + "api/query"
    status, body, _ = http("POST", url, body={
        "query": 'requests | where timestamp {TimeRange} and name == "{Name}" | count',
        "parameters": {"TimeRange": {"durationMs": 3_600_000}, "Name": "start"}})
    assert status == 200 and body["tables"][0]["rows"] == [[1]]
    status, body, _ = http("POST", url, body={"query": "requests | count",
                                              "parameters": ["not", "an", "object"]})
    assert (status, body["error"]["field"]) == (400, "parameters")
    status, body, _ = http("POST", url, body={"query": "select 1"})
    assert (status, body["error"]["field"]) == (400, "query")
    assert server.store.counts()["requests"] == 1


def test_workbook_parameters_are_substituted_as_the_workbook_does() -> None:
    day = TimeRange.parse("1d")
    assert substitute("requests | where timestamp {TimeRange}", {"TimeRange": day}) == \
        "requests | where timestamp > ago(1d)"
    assert substitute("{TimeRange:start}..{TimeRange:end} by {TimeRange:grain}",
                      {"TimeRange": TimeRange.parse("1h")}) == "ago(1h)..now() by 1m"
    assert TimeRange.parse("86400000").label == "Last 1 day"
    assert TimeRange.parse("90m").kql == "90m" and TimeRange.parse("2h").kql == "2h"
    # Text as it is; `:escape` escapes its quotes; a parameter with no value stays.
    values = parse_assignments(['Run=a"b', "TimeRange=30m"])
    assert substitute('"{Run}" "{Run:escape}" {Other}', values) == '"a"b" "a\\"b" {Other}'
    assert unset('x {Other} {Run}') == ["Other", "Run"]
    with pytest.raises(ParameterError) as bad:
        parse_assignments(["TimeRange=soon"])
    assert bad.value.field == "TimeRange"
    with pytest.raises(ParameterError):
        parse_assignments(["no-equals-sign"])


def test_the_workbooks_queries_run_with_the_cli_substitution() -> None:
    """Every `{…}` in the shipped workbook's queries is one `--param` can set."""
    workbook = json.loads((REPO / "dashboards/sub-orchestration-runs.workbook").read_text())
    queries = [i["content"]["query"] for i in workbook["items"] if i["type"] == 3]
    values = parse_assignments(["TimeRange=1h", "RootInstanceId=r", "ChildInstanceId=c"])
    assert queries and all(not unset(substitute(q, values)) for q in queries)


def test_insights_run_names_the_innermost_frame_of_the_users_code() -> None:
    stack = ('Traceback (most recent call last):\n'
             '  File "/usr/lib/python3.13/site-packages/azure_functions_runtime/x.py", '
             'line 3, in run\n'
             '  File "/app/function_app.py", line 12, in handler\n'
             '  File "/app/helpers.py", line 40, in call_service\n'
             '  File "/usr/lib/python3.13/json/__init__.py", line 9, in loads\n'
             'RuntimeError: boom')
    assert Failure("RuntimeError", "boom", stack).user_frame() == \
        "/app/helpers.py:40 in call_service"
    # The host's row of a failed invocation has no frames: the orchestration's reason does.
    assert Failure("RuntimeError", "boom", "RuntimeError: boom\n").user_frame(stack) == \
        "/app/helpers.py:40 in call_service"
    assert Failure("RuntimeError", "boom", "").user_frame() == ""


def test_a_host_row_wrapping_the_users_exception_is_read_through() -> None:
    """The Functions host's row of a failed invocation: FunctionInvocationException around
    the worker's RpcException, whose message is `Result: …\\nException: …\\nStack: …`
    (azure-functions-host v4.1037.0, src/WebJobs.Script/Workers/Rpc/RpcException.cs)."""
    innermost = ("Result: Failure\nException: RuntimeError: greeting service unavailable\n"
                 'Stack:   File "/app/function_app.py", line 18, in say_hello\n'
                 '    raise RuntimeError("greeting service unavailable")\n')
    failure = Failure.of("Microsoft.Azure.WebJobs.Script.Workers.Rpc.RpcException",
                         "Exception while executing function: Functions.say_hello",
                         innermost, innermost, "")
    assert (failure.type, failure.message) == ("RuntimeError", "greeting service unavailable")
    assert failure.user_frame() == "/app/function_app.py:18 in say_hello"
    plain = Failure.of("ValueError", None, None, "bad", "ValueError: bad\n")
    assert (plain.type, plain.message) == ("ValueError", "bad")


@pytest.mark.parametrize("host", [
    "127.0.0.1", "127.0.0.1:7071", "127.9.8.7:80", "localhost", "LOCALHOST:1", "[::1]",
    "[::1]:7071", "0.0.0.0", "10.0.0.1:7071", "example.com", "localhost.evil.com", "", "[::",
])
def test_the_portals_loopback_rule_is_the_hosts(host: str) -> None:
    """App Insights may not import the host (the layering contract), so the portal's Host
    check is a copy of devhost/host/loopback.py's rule: this holds the two together."""
    from aiohttp.test_utils import make_mocked_request

    from devhost.host.loopback import is_loopback_url
    from devhost.insights.portal import loopback_host

    request = make_mocked_request("GET", "/insights/", headers={"Host": host})
    assert loopback_host(request) == is_loopback_url(f"http://{host}/"), host
