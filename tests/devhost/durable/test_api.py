"""The management API as the real handler answers: Azure/azure-functions-durable-extension
`HttpApiHandler.cs` and `Bindings/BindingHelper.cs` (2.13.7 and the v3.x branch, and what 3.x
releases changed since: function and pull request named per test)."""

from __future__ import annotations

import base64
import json
import time
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest

from devhost.cli.start import host_server
from devhost.durable.engine import Engine
from devhost.durable.httpapi.management import client_payload
from devhost.durable.store import Store
from devhost.host.server import BackgroundHost

from ..support import engine_of, http, serve_semantics_app

pytestmark = pytest.mark.host

JSON = {"Content-Type": "application/json"}


@pytest.fixture(scope="module")
def host(tmp_path_factory: pytest.TempPathFactory) -> Iterator[BackgroundHost]:
    yield from serve_semantics_app(tmp_path_factory)


def _api(host: BackgroundHost) -> str:
    return f"{host.base_url}/runtime/webhooks/durabletask"


def _until(host: BackgroundHost, iid: str, *states: str) -> dict[str, Any]:
    deadline = time.monotonic() + 20
    while True:
        status, body, _ = http("GET", f"{_api(host)}/instances/{iid}")
        if body and body["runtimeStatus"] in states:
            return dict(body)
        assert time.monotonic() < deadline, (status, body)
        time.sleep(0.02)


def test_start_check_status_response(host: BackgroundHost) -> None:
    """CreateCheckStatusResponseMessage: 202, Location = statusQueryGetUri, Retry-After 10,
    the body without rewindPostUri."""
    status, body, headers = http("POST", f"{_api(host)}/orchestrators/fan_out/api-1", 2,
                                 headers=JSON)
    assert status == 202 and headers["Retry-After"] == "10"
    assert headers["Location"] == body["statusQueryGetUri"]
    assert set(body) == {"id", "statusQueryGetUri", "sendEventPostUri", "terminatePostUri",
                         "purgeHistoryDeleteUri", "restartPostUri", "suspendPostUri",
                         "resumePostUri"}


def test_start_with_timeout_waits_for_the_output(host: BackgroundHost) -> None:
    """HandleStartOrchestratorRequestAsync → WaitForCompletionOrCreateCheckStatusResponseAsync:
    Completed within the timeout is 200 with the output alone; still running is the 202."""
    status, body, _ = http(
        "POST", f"{_api(host)}/orchestrators/fan_out/api-wait?timeout=10&pollingInterval=0.05",
        3, headers=JSON)
    assert (status, body) == (200, 6)
    status, body, headers = http(
        "POST", f"{_api(host)}/orchestrators/slow/api-wait-slow?timeout=0.2&pollingInterval=0.1",
        headers=JSON)
    assert status == 202 and body["id"] == "api-wait-slow" and headers["Retry-After"] == "10"
    status, body, _ = http(
        "POST", f"{_api(host)}/orchestrators/fan_out/api-wait-bad?timeout=1&pollingInterval=5",
        1, headers=JSON)
    assert status == 400  # retryInterval > timeout: ArgumentException


def test_unknown_orchestrator_is_400(host: BackgroundHost) -> None:
    """DurableClient.StartNewAsync → ThrowIfFunctionDoesNotExist (ArgumentException), caught
    by HandleRequestAsync as BadRequest."""
    status, body, _ = http("POST", f"{_api(host)}/orchestrators/nope", headers=JSON)
    assert status == 400
    assert body["Message"] == "One or more of the arguments submitted is incorrect"
    assert "nope" in body["ExceptionMessage"]


def test_status_codes_location_and_retry_after(host: BackgroundHost) -> None:
    """HandleGetStatusRequestAsync: 202 + Location (the request URI) + Retry-After 5 while
    running; 404 with an empty body; returnInternalServerErrorOnFailure → 500 for Failed."""
    http("POST", f"{_api(host)}/orchestrators/slow/api-slow", headers=JSON)
    url = f"{_api(host)}/instances/api-slow?showInput=false"
    _until(host, "api-slow", "Running")
    status, body, headers = http("GET", url)
    assert status == 202 and headers["Location"] == url and headers["Retry-After"] == "5"
    assert body["input"] is None
    assert http("GET", f"{_api(host)}/instances/nobody")[:2] == (404, None)
    http("POST", f"{_api(host)}/orchestrators/failing_child/api-fail", "x", headers=JSON)
    _until(host, "api-fail", "Failed")
    assert http("GET", f"{_api(host)}/instances/api-fail")[0] == 200
    assert http("GET", f"{_api(host)}/instances/api-fail"
                       "?returnInternalServerErrorOnFailure=true")[0] == 500
    assert http("GET", f"{_api(host)}/instances/api-fail"
                       "?returnInternalServerErrorOnFailure=maybe")[0] == 200  # bool.TryParse


def test_continued_as_new_is_still_202(host: BackgroundHost) -> None:
    """HandleGetStatusRequestAsync lists ContinuedAsNew with Running/Pending/Suspended."""
    from devhost.durable.httpapi.management import status_response

    class Req:
        url = "http://h/x"

    for state in ("Pending", "Running", "ContinuedAsNew", "Suspended"):
        assert status_response(Req(), {"runtimeStatus": state}, False).status == 202  # type: ignore[arg-type]
    for state in ("Completed", "Terminated", "Canceled", "Failed"):
        assert status_response(Req(), {"runtimeStatus": state}, False).status == 200  # type: ignore[arg-type]


def test_list_defaults_filters_and_pages(host: BackgroundHost) -> None:
    """HandleGetStatusRequestAsync (list): showInput defaults to true
    (OrchestrationStatusQueryCondition.ShowInput); runtimeStatus values Enum.TryParse cannot
    read are dropped (TryGetIEnumerableQueryParameterValue); `top` pages with an opaque
    x-ms-continuation-token."""
    for i in range(5):
        http("POST", f"{_api(host)}/orchestrators/fan_out/page-{i}", i + 1, headers=JSON)
    for i in range(5):
        _until(host, f"page-{i}", "Completed")
    status, rows, headers = http("GET", f"{_api(host)}/instances?instanceIdPrefix=page-")
    assert status == 200 and len(rows) == 5
    assert {r["input"] for r in rows} == {1, 2, 3, 4, 5}
    assert headers["x-ms-continuation-token"] == ""
    _, rows, _ = http("GET", f"{_api(host)}/instances?instanceIdPrefix=page-"
                             "&runtimeStatus=Bogus,Completed")
    assert len(rows) == 5
    _, rows, _ = http("GET", f"{_api(host)}/instances?instanceIdPrefix=page-"
                             "&runtimeStatus=Bogus")
    assert len(rows) == 5  # nothing readable: no filter
    _, rows, _ = http("GET", f"{_api(host)}/instances?instanceIdPrefix=page-&runtimeStatus=0")
    assert rows == []  # 0 is Running
    seen: list[str] = []
    token = None
    while True:
        headers = {"x-ms-continuation-token": token} if token else {}
        _, rows, head = http("GET", f"{_api(host)}/instances?instanceIdPrefix=page-&top=2",
                             headers=headers)
        seen += [r["instanceId"] for r in rows]
        token = head["x-ms-continuation-token"]
        if not token:
            break
        assert not token.isdigit()
        json.loads(base64.urlsafe_b64decode(token))  # opaque to the client, ours to read
    assert sorted(seen) == [f"page-{i}" for i in range(5)]
    status, body, _ = http("GET", f"{_api(host)}/instances?top=2",
                           headers={"x-ms-continuation-token": "garbage"})
    assert status == 400 and body["field"] == "x-ms-continuation-token"


def test_raise_event_checks_content_type_and_keeps_the_body(host: BackgroundHost) -> None:
    """HandleRaiseEventRequestAsync: 404/410 before anything; only application/json; the body
    goes to the orchestration as sent (MessagePayloadDataConverter.ConvertToJToken), so the
    SDK's double-encoded data reaches wait_for_external_event as a string (#295)."""
    http("POST", f"{_api(host)}/orchestrators/approval/ev-1", headers=JSON)
    _until(host, "ev-1", "Running")
    url = f"{_api(host)}/instances/ev-1/raiseEvent/Approval"
    status, body, _ = http("POST", url, raw=b"true", headers={"Content-Type": "text/plain"})
    assert status == 400 and body["Message"] == "Only application/json request content is supported"
    assert http("POST", url, raw=b"{nope", headers=JSON)[0] == 400
    assert http("POST", url, raw=json.dumps(json.dumps({"ok": 1})).encode(),
                headers={"Content-Type": "Application/JSON; charset=utf-8"})[0] == 202
    assert _until(host, "ev-1", "Completed")["output"] == {"approved": '{"ok": 1}'}
    assert http("POST", url, raw=b"true", headers=JSON)[0] == 410
    assert http("POST", f"{_api(host)}/instances/none/raiseEvent/Approval", raw=b"1",
                headers=JSON)[:2] == (404, None)


def test_restart_answers_check_status_and_unknown_is_400(host: BackgroundHost) -> None:
    """HandleRestartInstanceRequestAsync: the new instance's check-status response; an
    unknown id is an ArgumentException (400)."""
    http("POST", f"{_api(host)}/orchestrators/fan_out/rs-1", 2, headers=JSON)
    _until(host, "rs-1", "Completed")
    status, body, headers = http("POST", f"{_api(host)}/instances/rs-1/restart")
    assert status == 202 and body["id"] != "rs-1" and headers["Retry-After"] == "10"
    assert _until(host, body["id"], "Completed")["output"] == 2
    status, body, _ = http("POST", f"{_api(host)}/instances/rs-1/restart"
                                   "?restartWithNewInstanceId=false")
    assert status == 202 and body["id"] == "rs-1"
    status, body, _ = http("POST", f"{_api(host)}/instances/nobody/restart")
    assert status == 400
    assert body["Message"] == "InstanceId does not match a valid orchestration instance."


def test_client_binding_payload_fields(host: BackgroundHost) -> None:
    """BindingHelper.DurableOrchestrationClientToString (HTTP protocol): connectionName and
    httpBaseUrl serialized as null, requiredQueryStringParameters only the webhook key query
    (none locally), creation URLs with that query only, management URLs with taskHub and
    connection."""
    payload = client_payload(engine_of(host), host.base_url)
    assert payload["connectionName"] is None and payload["httpBaseUrl"] is None
    assert payload["requiredQueryStringParameters"] == ""
    assert payload["creationUrls"]["createNewInstancePostUri"].endswith("[/{instanceId}]?")
    assert "taskHub=" in payload["managementUrls"]["statusQueryGetUri"]
    assert "rewindPostUri" in payload["managementUrls"]


def test_history_as_get_status_show_history_returns_it(host: BackgroundHost) -> None:
    """DurableClient.GetDurableOrchestrationStatusAsync (2.13.7 = v3.x 92fecfc): TaskScheduled and
    SubOrchestrationInstanceCreated merged into their completion (FunctionName,
    ScheduledTime, Input); ExecutionStarted's Name as FunctionName; a failed execution is
    ExecutionCompleted with OrchestrationStatus Failed (DurableTask.Core
    ExecutionCompletedEvent); inputs shown by default; results only with showHistoryOutput."""
    http("POST", f"{_api(host)}/orchestrators/failing_parent/h-1", "boom", headers=JSON)
    _until(host, "h-1", "Completed")
    _, parent, _ = http("GET", f"{_api(host)}/instances/h-1?showHistory=true")
    kinds = [e["EventType"] for e in parent["historyEvents"]]
    assert kinds == ["ExecutionStarted", "SubOrchestrationInstanceFailed", "ExecutionCompleted"]
    started, failed, completed = parent["historyEvents"]
    assert started["FunctionName"] == "failing_parent" and started["Input"] == '"boom"'
    assert "OrchestrationInstance" not in started and "EventId" not in started
    assert failed["FunctionName"] == "failing_child" and failed["Input"] == '"boom"'
    assert failed["ScheduledTime"] <= failed["Timestamp"] and "TaskScheduledId" not in failed
    assert completed["OrchestrationStatus"] == "Completed" and "Result" not in completed
    _, child, _ = http("GET", f"{_api(host)}/instances/h-1:child?showHistory=true"
                              "&showHistoryOutput=true")
    kinds = [e["EventType"] for e in child["historyEvents"]]
    assert kinds == ["ExecutionStarted", "TaskFailed", "ExecutionCompleted"]
    task_failed, end = child["historyEvents"][1:]
    assert task_failed["FunctionName"] == "explode" and "boom" in task_failed["Reason"]
    assert end["OrchestrationStatus"] == "Failed" and "failing_child" in end["Result"]
    http("POST", f"{_api(host)}/orchestrators/fan_out/h-2", 2, headers=JSON)
    _until(host, "h-2", "Completed")
    _, fan, _ = http("GET", f"{_api(host)}/instances/h-2?showHistory=true&showHistoryOutput=true")
    done = [e for e in fan["historyEvents"] if e["EventType"] == "TaskCompleted"]
    assert sorted(e["Result"] for e in done) == [0, 2]  # ConvertOutputToJToken
    assert {e["Input"] for e in done} == {"0", "1"} and {e["FunctionName"] for e in done} == {
        "double"}
    assert "TaskScheduled" not in [e["EventType"] for e in fan["historyEvents"]]
    _, hidden, _ = http("GET", f"{_api(host)}/instances/h-2?showHistory=true&showInput=false")
    assert hidden["input"] is None
    assert not any("Input" in e for e in hidden["historyEvents"])
    assert not any("Result" in e for e in hidden["historyEvents"])


def test_raise_event_over_http_emits_the_producer_span(semantics_index: Any, tmp_path: Path
                                                       ) -> None:
    """HandleRaiseEventRequestAsync → TaskHubClient.RaiseEventAsync →
    TraceHelper.StartActivityForNewEventRaisedFromClient, under the request's traceparent."""
    from opentelemetry.sdk.trace import TracerProvider
    from opentelemetry.sdk.trace.export import SimpleSpanProcessor
    from opentelemetry.sdk.trace.export.in_memory_span_exporter import InMemorySpanExporter
    from opentelemetry.sdk.trace.sampling import ALWAYS_ON
    from opentelemetry.trace import SpanKind

    from devhost.durable.engine import EngineOptions
    from devhost.durable.tracing import HostTracer

    exporter = InMemorySpanExporter()
    provider = TracerProvider(sampler=ALWAYS_ON)
    provider.add_span_processor(SimpleSpanProcessor(exporter))
    engine = Engine(semantics_index, Store(tmp_path / "ev.sqlite"), EngineOptions(tracing_v2=True),
                    tracer=HostTracer(enabled=True, provider=provider))
    caller = "00-0af7651916cd43dd8448eb211c80319c-b7ad6b7169203331-01"
    with BackgroundHost(host_server(semantics_index, engine, port=0)) as background:
        api = _api(background)
        http("POST", f"{api}/orchestrators/approval/ev-tr", headers=JSON)
        _until(background, "ev-tr", "Running")
        assert http("POST", f"{api}/instances/ev-tr/raiseEvent/Approval", raw=b"true",
                    headers={**JSON, "traceparent": caller})[0] == 202
        _until(background, "ev-tr", "Completed")
    [event] = [s for s in exporter.get_finished_spans()
               if s.name == "orchestration_event:Approval"]
    assert event.kind is SpanKind.PRODUCER
    assert event.parent is not None and f"{event.parent.span_id:016x}" == "b7ad6b7169203331"
    assert event.attributes is not None
    assert event.attributes["durabletask.event.target_instance_id"] == "ev-tr"


def test_start_refuses_ids_the_client_refuses(host: BackgroundHost) -> None:
    """DurableClient.StartNewAsync: ids starting with @, holding / \\ # ? or control
    characters, or longer than MaxInstanceIdLength (256) are ArgumentExceptions (400)."""
    from urllib.parse import quote

    for bad in ("@entity", "a#b", "a\\b", "x" * 257, "tab\there"):
        status, body, _ = http("POST", f"{_api(host)}/orchestrators/fan_out/{quote(bad, safe='')}",
                               1, headers=JSON)
        assert status == 400, bad
        assert body["field"] == "id"
    assert http("POST", f"{_api(host)}/orchestrators/fan_out/{'y' * 256}", 1,
                headers=JSON)[0] == 202


def test_purging_a_running_instance_is_refused_with_412_and_leaves_it_intact(
        host: BackgroundHost) -> None:
    """HandleDeleteHistoryByIdRequestAsync in extension 3.9.1+ (PR #3311, "Add a runtime
    status check to purge requests", what bundle 4.x ships): 404 for an unknown id, 412 for an
    instance that is not Completed, Failed or Terminated, which stays as it was and finishes;
    once terminal, 200 with the purge result. The SDK (1.7.0) maps 200/404 only: its
    purge_instance_history raises on the 412, so the calling function fails."""
    api = _api(host)
    assert http("POST", f"{api}/orchestrators/approval/purge-running")[0] == 202
    before = _until(host, "purge-running", "Running")
    status, body, _ = http("DELETE", f"{api}/instances/purge-running")
    assert status == 412 and "is Running" in body["Message"], body
    status, _, _ = http("POST", f"{host.base_url}/api/client/purge", {"id": "purge-running"})
    assert status == 500  # the SDK raised "unexpected status code 412"
    after = _until(host, "purge-running", "Running")
    assert (after["createdTime"], after["input"]) == (before["createdTime"], before["input"])
    assert http("POST", f"{api}/instances/purge-running/raiseEvent/Approval", "yes",
                headers=JSON)[0] == 202
    assert _until(host, "purge-running", "Completed")["output"] == {"approved": "yes"}
    status, body, _ = http("DELETE", f"{api}/instances/purge-running")
    assert (status, body) == (200, {"instancesDeleted": 1})
    assert http("GET", f"{api}/instances/purge-running")[0] == 404


def test_suspend_resume_of_an_unknown_instance_are_404_without_a_body_rewind_says_why(
        host: BackgroundHost) -> None:
    """HandleSuspendInstanceRequestAsync / HandleResumeInstanceRequestAsync:
    `request.CreateResponse(HttpStatusCode.NotFound)` for an unknown instance, like every other
    instance route, and 410 (no body) once it is terminal. HandleRewindInstanceRequestAsync in
    extension 3.x (PR #3227; azure-functions-durable-js PR #661 moved its client from 410 to
    412): 404 and 412 (not Failed) with a message. The SDK (1.7.0) reads a 404 as "No instance
    with ID ... found." and has no case for 412: its rewind raises, the caller fails."""
    for op in ("suspend", "resume"):
        status, body, _ = http("POST", f"{_api(host)}/instances/nobody-{op}/{op}?reason=x")
        assert (status, body) == (404, None), op
    status, body, _ = http("POST", f"{_api(host)}/instances/nobody-rewind/rewind?reason=x")
    assert status == 404 and body["Message"] == "No instance with ID 'nobody-rewind' found."
    http("POST", f"{_api(host)}/orchestrators/fan_out/done-1", 2, headers=JSON)
    _until(host, "done-1", "Completed")
    status, body, _ = http("POST", f"{_api(host)}/instances/done-1/suspend?reason=x")
    assert (status, body) == (410, None)
    status, body, _ = http("POST", f"{_api(host)}/instances/done-1/rewind?reason=x")
    assert status == 412 and "only supported on failed" in body["Message"], body
    assert "is Completed" in body["Message"]
    assert http("POST", f"{host.base_url}/api/client/rewind", {"id": "done-1"})[0] == 500
    assert _until(host, "done-1", "Completed")["output"] == 2  # untouched
