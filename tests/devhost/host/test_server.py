"""devhost as `func start`: routes, the management API and the SDK client, over real HTTP."""

from __future__ import annotations

import time
from collections.abc import Iterator
from typing import Any

import pytest

from devhost.host.server import BackgroundHost

from ..support import engine_of, http, serve_semantics_app, until

pytestmark = pytest.mark.host


@pytest.fixture(scope="module")
def host(tmp_path_factory: pytest.TempPathFactory) -> Iterator[BackgroundHost]:
    yield from serve_semantics_app(tmp_path_factory)


def _poll(url: str, timeout: float = 20) -> dict[str, Any]:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        status, body, _ = http("GET", url)
        if status == 200:
            return dict(body)
        assert status == 202, body
        time.sleep(0.05)
    raise AssertionError(f"{url} did not finish")


def test_check_status_response_and_status_uri(host: BackgroundHost) -> None:
    status, body, headers = http("POST", f"{host.base_url}/api/orchestrators/fan_out", 10)
    assert status == 202
    assert headers["Location"] == body["statusQueryGetUri"]
    assert set(body) >= {"id", "statusQueryGetUri", "sendEventPostUri", "terminatePostUri",
                         "purgeHistoryDeleteUri"}
    final = _poll(body["statusQueryGetUri"])
    assert final["runtimeStatus"] == "Completed" and final["output"] == 90
    assert final["input"] == 10


def test_send_event_and_terminate_and_purge_uris_work_with_plain_http(host: BackgroundHost) -> None:
    _, started, _ = http("POST", f"{host.base_url}/api/orchestrators/approval")
    event_uri = started["sendEventPostUri"].replace("{eventName}", "Approval")
    deadline = time.monotonic() + 5
    while http("GET", started["statusQueryGetUri"])[1]["customStatus"] is None:
        assert time.monotonic() < deadline
        time.sleep(0.02)
    json_type = {"Content-Type": "application/json"}
    assert http("POST", event_uri, "granted", headers=json_type)[0] == 202
    assert _poll(started["statusQueryGetUri"])["output"] == {"approved": "granted"}
    assert http("POST", event_uri, "late", headers=json_type)[0] == 410

    _, slow, _ = http("POST", f"{host.base_url}/api/orchestrators/slow")
    assert http("POST", slow["terminatePostUri"].replace("{text}", "stop"))[0] == 202
    assert _poll(slow["statusQueryGetUri"])["runtimeStatus"] == "Terminated"
    status, purged, _ = http("DELETE", slow["purgeHistoryDeleteUri"])
    assert (status, purged) == (200, {"instancesDeleted": 1})
    assert http("GET", slow["statusQueryGetUri"])[0] == 404


def test_sdk_client_methods_work_unchanged(host: BackgroundHost) -> None:
    api = f"{host.base_url}/api/client"
    _, started, _ = http("POST", f"{api}/start", {"name": "approval", "id": "sdk-1"})
    assert started["result"] == "sdk-1"
    # Pending until its first episode ran; then Running, waiting for the event.
    running = until(lambda: (r := http("POST", f"{api}/status", {"id": "sdk-1"})[1])
                    ["result"]["runtimeStatus"] == "Running" and r)
    assert running["result"]["runtimeStatus"] == "Running"
    _, by, _ = http("POST", f"{api}/status_by", {"statuses": ["Running"]})
    assert "sdk-1" in [s["instanceId"] for s in by["result"]]
    http("POST", f"{api}/raise_event", {"id": "sdk-1", "event": "Approval", "data": 7})
    status, output, _ = http("POST", f"{api}/wait", {"id": "sdk-1"})
    # The SDK double-encodes event data and the extension keeps the body as sent
    # (HttpApiHandler.HandleRaiseEventRequestAsync): the orchestrator gets the text "7".
    assert (status, output) == (200, {"approved": "7"})
    _, everything, _ = http("POST", f"{api}/status_all", {})
    assert "sdk-1" in [s["instanceId"] for s in everything["result"]]
    _, done, _ = http("POST", f"{api}/status", {"id": "sdk-1"})
    assert done["result"]["runtimeStatus"] == "Completed"
    assert done["result"]["historyEvents"]
    _, purged, _ = http("POST", f"{api}/purge", {"id": "sdk-1"})
    assert purged["result"] == 1


def test_errors_are_json_and_never_500(host: BackgroundHost) -> None:
    base = host.base_url
    cases = [
        ("GET", f"{base}/api/nowhere", None, 404),
        ("GET", f"{base}/api/orchestrators/fan_out", None, 405),
        ("POST", f"{base}/runtime/webhooks/durabletask/orchestrators/nope", None, 400),
        ("POST", f"{base}/runtime/webhooks/durabletask/orchestrators/fan_out", b"{not json", 400),
        ("DELETE", f"{base}/runtime/webhooks/durabletask/instances", None, 400),
    ]
    for method, url, raw, expected in cases:
        status, body, headers = http(method, url, raw=raw)
        assert status == expected, (method, url, status, body)
        assert headers["Content-Type"].startswith("application/json"), url
        assert isinstance(body, dict) and body, url


def test_management_not_found_has_no_body(host: BackgroundHost) -> None:
    """HttpApiHandler: request.CreateResponse(HttpStatusCode.NotFound) — status only."""
    base = f"{host.base_url}/runtime/webhooks/durabletask/instances/missing"
    for method, url in (("GET", base), ("POST", f"{base}/terminate"), ("DELETE", base)):
        status, body, _ = http(method, url)
        assert (status, body) == (404, None), (method, url)


def test_start_honours_traceparent_header(host: BackgroundHost) -> None:
    trace_id = "4bf92f3577b34da6a3ce929d0e0e4736"
    status, body, _ = http(
        "POST", f"{host.base_url}/runtime/webhooks/durabletask/orchestrators/fan_out/tp-1", 1,
        headers={"traceparent": f"00-{trace_id}-00f067aa0ba902b7-01",
                 "Content-Type": "application/json"})
    assert status == 202
    inst = engine_of(host).store.get_instance("tp-1")
    # TaskHubClient.CreateOrchestrationInstanceAsync → TraceHelper
    # .StartActivityForNewOrchestration: the orchestration hangs under the PRODUCER span,
    # which hangs under the caller; the trace is the caller's.
    assert inst is not None and inst.trace_id == trace_id
    assert inst.parent_span_id and inst.parent_span_id != "00f067aa0ba902b7"


def test_route_prefix_matches_in_any_case(host: BackgroundHost) -> None:
    """The host serves functions through ASP.NET routing, whose TemplateMatcher compares
    literal segments OrdinalIgnoreCase, the `api` route prefix included
    (azure-functions-host WebJobsRouter); route parameters keep their case."""
    for prefix in ("/API", "/Api", "/aPi"):
        status, body, _ = http("POST", f"{host.base_url}{prefix}/Orchestrators/fan_out", 10)
        assert status == 202, (prefix, body)
        assert _poll(body["statusQueryGetUri"])["output"] == 90
    assert http("POST", f"{host.base_url}/apix/orchestrators/fan_out", 2)[0] == 404


def test_webhook_paths_match_in_any_case(host: BackgroundHost) -> None:
    """`runtime/webhooks/{extensionName}` is an ASP.NET attribute route, the extension is
    looked up OrdinalIgnoreCase (HostController.ExtensionWebHookHandler,
    DefaultScriptWebHookProvider._customHttpHandlers), and the Durable extension matches the
    rest with TemplateMatcher and OrdinalIgnoreCase operation names
    (HttpApiHandler.HandleRequestAsync, 2.13.7 and the v3.x branch); instance ids keep their
    case."""
    base = host.base_url
    status, listed, _ = http("GET", f"{base}/Runtime/Webhooks/DurableTask/instances")
    assert status == 200 and isinstance(listed, list), listed
    status, _, _ = http("POST",
                        f"{base}/RUNTIME/webhooks/durabletask/Orchestrators/approval/CaseId")
    assert status == 202
    status, body, _ = http("GET", f"{base}/runtime/WEBHOOKS/durabletask/Instances/CaseId")
    assert status in (200, 202) and body["instanceId"] == "CaseId", body
    assert http("GET", f"{base}/runtime/webhooks/durabletask/instances/caseid")[0] == 404
    status, _, _ = http("POST", f"{base}/Runtime/Webhooks/DurableTask/Instances/CaseId/TERMINATE")
    assert status == 202
    assert _wait_status(f"{base}/runtime/webhooks/durabletask/instances/CaseId",
                        "Terminated") == "Terminated"
    status, body, _ = http("DELETE", f"{base}/runtime/webhooks/DURABLETASK/instances/CaseId")
    assert (status, body) == (200, {"instancesDeleted": 1})


def _wait_status(url: str, wanted: str, timeout: float = 10) -> str:
    deadline = time.monotonic() + timeout
    while True:
        status = str(http("GET", url)[1]["runtimeStatus"])
        if status == wanted or time.monotonic() > deadline:
            return status
        time.sleep(0.05)


ALREADY_EXISTS = {
    "Message": "An Orchestration instance with the status Running already exists.",
    "ExceptionMessage": "An Orchestration instance with the status Running already exists.",
    "field": "id"}


def test_starting_a_running_id_is_refused_with_409(
        host: BackgroundHost, capsys: pytest.CaptureFixture[str]) -> None:
    """Extension 3.x (what bundle 4.x ships): DurableClient.StartNewAsync passes the dedupe
    statuses of the default OverridableExistingInstanceStates (NonRunningStates → Running,
    Pending, Suspended), AzureStorageDurabilityProviderFactory sets
    ThrowExceptionOnInvalidDedupeStatus, so AzureStorageOrchestrationService
    .CreateTaskOrchestrationAsync throws OrchestrationAlreadyExistsException, which
    HttpApiHandler.HandleStartOrchestratorRequestAsync answers with 409 Conflict (2.13.7 let
    it reach HandleRequestAsync's last catch: 500). The same for a restart onto the same id
    (HandleRestartInstanceRequestAsync → RestartAsync → StartNewAsync). The SDK's start_new
    (1.7.0: anything but <= 202 and 400 raises an Exception holding the body) makes the
    starter fail. The running instance is untouched; a finished instance's id starts again."""
    api = f"{host.base_url}/runtime/webhooks/durabletask"
    assert http("POST", f"{api}/orchestrators/approval/dup-1")[0] == 202
    assert _wait_status(f"{api}/instances/dup-1", "Running") == "Running"
    created = http("GET", f"{api}/instances/dup-1")[1]["createdTime"]

    status, body, _ = http("POST", f"{api}/orchestrators/approval/dup-1", 5)
    assert (status, body) == (409, ALREADY_EXISTS)
    status, body, _ = http("POST",
                           f"{api}/instances/dup-1/restart?restartWithNewInstanceId=false")
    assert (status, body) == (409, ALREADY_EXISTS)
    capsys.readouterr()
    status, body, _ = http("POST", f"{host.base_url}/api/client/start",
                           {"name": "approval", "id": "dup-1"})
    assert (status, body) == (500, None)  # the starter threw: the host's empty 500
    assert "An Orchestration instance with the status Running already exists." in \
        capsys.readouterr().err
    again = http("GET", f"{api}/instances/dup-1")[1]
    assert (again["runtimeStatus"], again["createdTime"], again["input"]) == (
        "Running", created, None)  # untouched

    http("POST", f"{api}/instances/dup-1/terminate")
    assert _wait_status(f"{api}/instances/dup-1", "Terminated") == "Terminated"
    assert http("POST", f"{api}/orchestrators/approval/dup-1", 6)[0] == 202  # NonRunningStates
    assert http("GET", f"{api}/instances/dup-1")[1]["input"] == 6
    http("POST", f"{api}/instances/dup-1/terminate")
