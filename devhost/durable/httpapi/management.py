"""The Durable extension's HTTP management API and the durable client binding payload.

Semantics follow Azure/azure-functions-durable-extension's `HttpApiHandler.cs`
(HandleStartOrchestratorRequestAsync, HandleGetStatusRequestAsync,
HandleRaiseEventRequestAsync, HandleRestartInstanceRequestAsync,
WaitForCompletionOrCreateCheckStatusResponseAsync, CreateCheckStatusResponseMessage,
GetClientResponseLinks) and `Bindings/BindingHelper.cs` (DurableOrchestrationClientToString)
as read at 2.13.7 (a7c6d69) and on the v3.x branch (92fecfc), with what extension 3.x, the
major version bundle 4.x ships, changed since (docs/devhost.md names each change): a start or
restart onto a running id is 409, a purge by id of a non-terminal instance 412.

The real `DurableOrchestrationClient` talks to these URLs unchanged: it POSTs to
`{rpcBaseUrl}orchestrators/{name}[/{id}]` and uses `{rpcBaseUrl}instances/…` for the rest;
users curl the public `…/runtime/webhooks/durabletask/…` URLs of the check-status response.
Both prefixes are served by the same handlers.
"""

from __future__ import annotations

import base64
import json
from collections.abc import Callable
from datetime import UTC, datetime
from typing import Any
from urllib.parse import quote

from aiohttp import web

from devhost.durable.engine import Conflict, Engine, NotFound
from devhost.durable.history import ORCHESTRATION_STATUS, RuntimeStatus, iso, utcnow
from devhost.durable.httpapi.entities import EntitiesApi
from devhost.durable.httpapi.errors import error, flag, guarded
from devhost.durable.httpapi.lifecycle import LifecycleApi
from devhost.durable.tracing import TraceParent
from devhost.host.http import insensitive

WEBHOOK_PREFIX = "/runtime/webhooks/durabletask"
RPC_PREFIX = "/durabletask"
# OrchestrationRuntimeStatus by value too (Enum.TryParse accepts names and numbers).
_BY_VALUE = {str(v): k for k, v in ORCHESTRATION_STATUS.items()}
_STILL_RUNNING = (RuntimeStatus.PENDING, RuntimeStatus.RUNNING, RuntimeStatus.CONTINUED_AS_NEW,
                  RuntimeStatus.SUSPENDED)
_CHECK_STATUS_KEYS = ("statusQueryGetUri", "sendEventPostUri", "terminatePostUri",
                      "purgeHistoryDeleteUri", "restartPostUri", "suspendPostUri",
                      "resumePostUri")
PAGE_SIZE = 100  # OrchestrationStatusQueryCondition.PageSize



def client_payload(engine: Engine, base_url: str) -> dict[str, Any]:
    """What the Durable extension puts in a `durableClient` input binding."""
    hub = engine.options.task_hub
    query = f"taskHub={hub}&connection=Storage"
    root = f"{base_url}{WEBHOOK_PREFIX}"
    instance = f"{root}/instances/INSTANCEID"
    return {
        "taskHubName": hub,
        "creationUrls": {
            # GetInstanceCreationLinks: only the universal query (empty locally).
            "createNewInstancePostUri": f"{root}/orchestrators/{{functionName}}[/{{instanceId}}]?",
            "createAndWaitOnNewInstancePostUri": f"{root}/orchestrators/{{functionName}}"
                                                 f"[/{{instanceId}}]?timeout={{timeoutInSeconds}}"
                                                 f"&pollingInterval={{intervalInSeconds}}&",
        },
        "managementUrls": {
            "id": "INSTANCEID",
            "statusQueryGetUri": f"{instance}?{query}",
            "sendEventPostUri": f"{instance}/raiseEvent/{{eventName}}?{query}",
            "terminatePostUri": f"{instance}/terminate?reason={{text}}&{query}",
            "rewindPostUri": f"{instance}/rewind?reason={{text}}&{query}",
            "purgeHistoryDeleteUri": f"{instance}?{query}",
            "restartPostUri": f"{instance}/restart?{query}",
            "suspendPostUri": f"{instance}/suspend?reason={{text}}&{query}",
            "resumePostUri": f"{instance}/resume?reason={{text}}&{query}",
        },
        "baseUrl": root,
        # Only the webhook's system key query (GetUniversalQueryStrings): none locally.
        "requiredQueryStringParameters": "",
        "rpcBaseUrl": f"{base_url}{RPC_PREFIX}/",
        # OrchestrationClientInputData: unset in the HTTP protocol, serialized as null.
        "connectionName": None,
        "httpBaseUrl": None,
    }


def management_links(engine: Engine, base_url: str, instance_id: str) -> dict[str, str]:
    urls = client_payload(engine, base_url)["managementUrls"]
    return {k: v.replace("INSTANCEID", quote(instance_id, safe="")) for k, v in urls.items()}


async def _json_body(request: web.Request) -> tuple[str | None, web.Response | None]:
    """The body as JSON text. The SDK double-encodes (a JSON string holding JSON); curl
    users send plain JSON. Both are accepted; anything else is a 400 naming the body."""
    raw = await request.read()
    if not raw.strip():
        return None, None
    try:
        value = json.loads(raw)
    except (json.JSONDecodeError, UnicodeDecodeError) as exc:
        return None, error(400, f"request body is not valid JSON: {exc}", "body")
    if isinstance(value, str):
        try:
            json.loads(value)
            return value, None
        except json.JSONDecodeError:
            pass
    return json.dumps(value), None


def trace_event_raised(engine: Engine, instance_id: str, event_name: str,
                       traceparent: str | None, tracestate: str | None) -> None:
    """TaskHubClient.RaiseEventAsync emits `orchestration_event:<name>` (PRODUCER) under the
    caller's context (StartActivityForNewEventRaisedFromClient)."""
    engine.tracer.orchestration_event(name=event_name, target_instance_id=instance_id,
                                      caller=TraceParent.parse(traceparent, tracestate),
                                      at=utcnow())


def _seconds(request: web.Request, name: str) -> float | None:
    """TryGetTimeSpanQueryParameterValue: a number of seconds, else absent."""
    try:
        return float(request.query[name])
    except (KeyError, ValueError):
        return None


def _runtime_statuses(request: web.Request) -> list[str] | None:
    """TryGetIEnumerableQueryParameterValue: values Enum.TryParse cannot read are dropped;
    none left means no filter."""
    found = []
    for raw in request.query.getall("runtimeStatus", []):
        for value in (v.strip() for v in raw.split(",")):
            name = value if value in ORCHESTRATION_STATUS else _BY_VALUE.get(value)
            if name:
                found.append(name)
    return found or None


def _created(request: web.Request, name: str) -> str | None:
    """TryGetDateTimeQueryParameterValue: an unreadable time is ignored."""
    try:
        value = datetime.fromisoformat(request.query[name].replace("Z", "+00:00"))
    except (KeyError, ValueError):
        return None
    return iso(value if value.tzinfo else value.replace(tzinfo=UTC))


def _token(offset: int) -> str:
    return base64.urlsafe_b64encode(json.dumps({"offset": offset}).encode()).decode()


def _offset(token: str | None) -> int:
    if not token:
        return 0
    try:
        offset = json.loads(base64.urlsafe_b64decode(token.encode()))["offset"]
    except (ValueError, KeyError, TypeError) as exc:
        raise ValueError("x-ms-continuation-token is not a token this host issued") from exc
    if not isinstance(offset, int) or offset < 0:
        raise ValueError("x-ms-continuation-token is not a token this host issued")
    return offset


MAX_INSTANCE_ID_LENGTH = 256  # DurableClient.MaxInstanceIdLength


def instance_id_problem(instance_id: str | None) -> str | None:
    """DurableClient.StartNewAsync's ArgumentExceptions for a caller-chosen id."""
    if not instance_id:
        return None
    if instance_id.startswith("@"):
        return "Orchestration instance ids must not start with @."
    if any(c in "/\\#?" or ord(c) < 32 or 127 <= ord(c) < 160 for c in instance_id):
        return "Orchestration instance ids must not contain /, \\, #, ?, or control characters."
    if len(instance_id) > MAX_INSTANCE_ID_LENGTH:
        return f"Instance ID lengths must not exceed {MAX_INSTANCE_ID_LENGTH} characters."
    return None


def check_status_response(engine: Engine, base_url: str, instance_id: str,
                          internal_error_on_failure: bool = False) -> web.Response:
    """CreateCheckStatusResponseMessage: 202, Location, Retry-After 10, and no rewind URI."""
    links = management_links(engine, base_url, instance_id)
    if internal_error_on_failure:
        links["statusQueryGetUri"] += "&returnInternalServerErrorOnFailure=true"
    body = {"id": instance_id, **{key: links[key] for key in _CHECK_STATUS_KEYS}}
    return web.json_response(body, status=202, headers={
        "Location": links["statusQueryGetUri"], "Retry-After": "10"})


def status_response(request: web.Request, body: dict[str, Any] | None,
                    internal_error_on_failure: bool) -> web.Response:
    """HandleGetStatusRequestAsync: 404 with no body; 202 + Location (the request URI) +
    Retry-After 5 while running, continued-as-new or suspended; Failed is 500 only when
    asked; other terminal states 200."""
    if body is None:
        return web.Response(status=404)
    state = body["runtimeStatus"]
    if state in _STILL_RUNNING:
        return web.json_response(body, status=202, headers={"Location": str(request.url),
                                                            "Retry-After": "5"})
    failed = state == RuntimeStatus.FAILED and internal_error_on_failure
    return web.json_response(body, status=500 if failed else 200)


class ManagementApi:
    def __init__(self, engine: Engine, base_url: Callable[[web.Request], str]) -> None:
        self.engine = engine
        self.base_url = base_url

    def add_routes(self, app: web.Application) -> None:
        """Every route of the API, its literal segments matching in any case
        (`/Runtime/Webhooks/DurableTask/Instances/x` is the same URL on Azure: see
        `insensitive`). The routes are written plainly on a staging app, then added with
        case-insensitive literals, so no route can miss the conversion."""
        staging = web.Application()
        self._add_plain_routes(staging)
        for route in staging.router.routes():
            app.router.add_route(route.method, insensitive(route.resource.canonical
                                                           if route.resource else ""),
                                 route.handler)

    def _add_plain_routes(self, app: web.Application) -> None:
        for prefix in (WEBHOOK_PREFIX, RPC_PREFIX):
            app.router.add_post(prefix + "/orchestrators/{name}", guarded(self.start))
            app.router.add_post(prefix + "/orchestrators/{name}/{id}", guarded(self.start))
            app.router.add_get(prefix + "/instances", guarded(self.list))
            app.router.add_get(prefix + "/instances/", guarded(self.list))
            app.router.add_delete(prefix + "/instances", guarded(self.purge_many))
            app.router.add_delete(prefix + "/instances/", guarded(self.purge_many))
            app.router.add_get(prefix + "/instances/{id}", guarded(self.status))
            app.router.add_delete(prefix + "/instances/{id}", guarded(self.purge))
            app.router.add_post(prefix + "/instances/{id}/raiseEvent/{event}",
                                guarded(self.raise_event))
            app.router.add_post(prefix + "/instances/{id}/terminate", guarded(self.terminate))
            app.router.add_post(prefix + "/instances/{id}/restart", guarded(self.restart))
        LifecycleApi(self.engine).add_routes(app, (WEBHOOK_PREFIX, RPC_PREFIX))
        EntitiesApi(self.engine).add_routes(app, (WEBHOOK_PREFIX, RPC_PREFIX))

    async def start(self, request: web.Request) -> web.StreamResponse:
        input_json, problem = await _json_body(request)
        if problem:
            return problem
        invalid = instance_id_problem(request.match_info.get("id"))
        if invalid:
            return error(400, "One or more of the arguments submitted is incorrect", "id",
                          exception=invalid)
        try:
            iid = self.engine.start_new(
                request.match_info["name"], request.match_info.get("id"), input_json,
                traceparent=request.headers.get("traceparent"),
                tracestate=request.headers.get("tracestate"),
                version=request.query.get("version"))  # SDK 1.7's start_new(version=)
        except NotFound as exc:  # ThrowIfFunctionDoesNotExist: an ArgumentException → 400
            return error(400, "One or more of the arguments submitted is incorrect",
                          exception=str(exc))
        except Conflict:
            return self._already_exists(request.match_info["id"])
        return await self._wait_or_check_status(request, iid)

    def _already_exists(self, instance_id: str) -> web.Response:
        """Starting an id whose instance is Pending, Running or Suspended: DurableClient
        .StartNewAsync passes the dedupe statuses of OverridableExistingInstanceStates
        (NonRunningStates by default: OverridableStates.ToDedupeStatuses), the extension sets
        ThrowExceptionOnInvalidDedupeStatus (AzureStorageDurabilityProviderFactory), so
        AzureStorageOrchestrationService.CreateTaskOrchestrationAsync throws
        OrchestrationAlreadyExistsException, which extension 3.x's
        HandleStartOrchestratorRequestAsync answers with 409 Conflict (2.x let it reach
        HandleRequestAsync's last catch: a 500). The SDK's `start_new` raises an Exception
        holding this body, so the starter fails."""
        inst = self.engine.store.get_instance(instance_id)
        status = inst.runtime_status if inst is not None else RuntimeStatus.RUNNING
        return error(409, f"An Orchestration instance with the status {status} already exists.",
                     "id")

    async def _wait_or_check_status(self, request: web.Request, iid: str) -> web.Response:
        """Start/restart with `timeout` and `pollingInterval` wait like
        WaitForCompletionOrCreateCheckStatusResponseAsync; otherwise the check-status 202."""
        timeout, interval = _seconds(request, "timeout"), _seconds(request, "pollingInterval")
        if timeout is None or interval is None:
            return check_status_response(self.engine, self.base_url(request), iid)
        if interval > timeout:
            return error(400, "One or more of the arguments submitted is incorrect",
                          exception=f"Total timeout {timeout} should be bigger than retry "
                                    f"timeout {interval}")
        inst = await self.engine.wait(iid, max(timeout, 0.0))
        if inst.runtime_status == RuntimeStatus.COMPLETED:
            return web.json_response(self.engine.status_of(inst)["output"], status=200)
        if inst.is_terminal:
            return status_response(request, self.engine.status_of(inst), False)
        return check_status_response(self.engine, self.base_url(request), iid)

    async def status(self, request: web.Request) -> web.StreamResponse:
        iid = request.match_info["id"]
        body = self.engine.status(iid, show_history=flag(request, "showHistory", False),
                                  show_history_output=flag(request, "showHistoryOutput", False),
                                  show_input=flag(request, "showInput", True))
        return status_response(request, body,
                               flag(request, "returnInternalServerErrorOnFailure", False))

    async def list(self, request: web.Request) -> web.StreamResponse:
        """ListInstancesAsync: pages of `top` (default 100) with an opaque continuation token
        in `x-ms-continuation-token`; `showInput` defaults to true."""
        try:
            top = int(request.query.get("top", ""))
        except ValueError:
            top = PAGE_SIZE
        top = top if top > 0 else PAGE_SIZE
        try:
            offset = _offset(request.headers.get("x-ms-continuation-token"))
        except ValueError as exc:
            return error(400, str(exc), "x-ms-continuation-token")
        rows = self.engine.store.query_instances(
            _runtime_statuses(request), _created(request, "createdTimeFrom"),
            _created(request, "createdTimeTo"), request.query.get("instanceIdPrefix"),
            top + 1, offset)
        more, rows = len(rows) > top, rows[:top]
        show_input = flag(request, "showInput", True)
        return web.json_response(
            [self.engine.status_of(r, show_input=show_input) for r in rows],
            headers={"x-ms-continuation-token": _token(offset + top) if more else ""})

    async def purge(self, request: web.Request) -> web.StreamResponse:
        """HandleDeleteHistoryByIdRequestAsync: 404 (no body) for an unknown id, 412 with a
        message for a non-terminal instance (3.9.1, PR #3311: `guarded` maps the engine's
        PreconditionFailed), else 200 with the purge result."""
        iid = request.match_info["id"]
        if self.engine.store.get_instance(iid) is None:
            return web.Response(status=404)
        return web.json_response({"instancesDeleted": self.engine.purge(iid)})

    async def purge_many(self, request: web.Request) -> web.StreamResponse:
        if "createdTimeFrom" not in request.query:
            return error(400, "createdTimeFrom is required", "createdTimeFrom")
        statuses = [s for s in request.query.get("runtimeStatus", "").split(",") if s]
        deleted = self.engine.purge_many(statuses or None, request.query["createdTimeFrom"],
                                         request.query.get("createdTimeTo"))
        if not deleted:
            return error(404, "no instances matched")
        return web.json_response({"instancesDeleted": deleted})

    async def raise_event(self, request: web.Request) -> web.StreamResponse:
        """HandleRaiseEventRequestAsync: 404 / 410 first, then only application/json, and the
        body kept as sent (ConvertToJToken): the SDK's double-encoded body stays a JSON string,
        so `wait_for_external_event` gets that string, as on Azure (durable-python #295)."""
        iid = request.match_info["id"]
        self.engine.live(iid)  # NotFound / Gone: `guarded` answers 404 / 410 without a body
        if request.content_type.lower() != "application/json":
            return error(400, "Only application/json request content is supported",
                          "Content-Type")
        raw = (await request.read()).decode("utf-8", errors="replace")
        try:
            data = json.dumps(json.loads(raw)) if raw.strip() else None
        except json.JSONDecodeError as exc:
            return error(400, "Invalid JSON content", "body", exception=str(exc))
        self.engine.raise_event(iid, request.match_info["event"], data)
        trace_event_raised(self.engine, request.match_info["id"], request.match_info["event"],
                           request.headers.get("traceparent"), request.headers.get("tracestate"))
        return web.Response(status=202)

    async def terminate(self, request: web.Request) -> web.StreamResponse:
        self.engine.terminate(request.match_info["id"], request.query.get("reason"))
        return web.Response(status=202)

    async def restart(self, request: web.Request) -> web.StreamResponse:
        """HandleRestartInstanceRequestAsync: an unknown id is an ArgumentException (400);
        the answer is the new instance's check-status response (or the create-and-wait one)."""
        inst = self.engine.store.get_instance(request.match_info["id"])
        if inst is None:
            return error(400, "InstanceId does not match a valid orchestration instance.",
                          "id", exception=f"no instance with id {request.match_info['id']!r}")
        new_id = flag(request, "restartWithNewInstanceId", True)
        try:
            iid = self.engine.start_new(inst.name, None if new_id else inst.instance_id,
                                        inst.input)
        except Conflict:  # RestartAsync → StartNewAsync with the same id: as `start`, 409
            return self._already_exists(inst.instance_id)
        return await self._wait_or_check_status(request, iid)
