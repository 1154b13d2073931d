"""The Durable extension's HTTP management API and the durable client binding payload.

The real `DurableOrchestrationClient` talks to these URLs unchanged: it POSTs to
`{rpcBaseUrl}orchestrators/{name}[/{id}]` and uses `{rpcBaseUrl}instances/…` for the rest;
users curl the public `…/runtime/webhooks/durabletask/…` URLs of the check-status response.
Both prefixes are served by the same handlers.
"""

from __future__ import annotations

import json
from collections.abc import Awaitable, Callable
from typing import Any
from urllib.parse import quote

from aiohttp import web

from .engine import DurableError, Engine
from .history import utcnow
from .tracing import TraceParent

WEBHOOK_PREFIX = "/runtime/webhooks/durabletask"
RPC_PREFIX = "/durabletask"
_RUNTIME_STATUSES = {"Pending", "Running", "Completed", "Failed", "Terminated",
                     "ContinuedAsNew", "Canceled", "Suspended"}

Handler = Callable[[web.Request], Awaitable[web.StreamResponse]]


def _error(status: int, message: str, field: str | None = None) -> web.Response:
    body: dict[str, Any] = {"Message": message, "ExceptionMessage": message}
    if field:
        body["field"] = field
    return web.json_response(body, status=status)


def client_payload(engine: Engine, base_url: str) -> dict[str, Any]:
    """What the Durable extension puts in a `durableClient` input binding."""
    hub = engine.options.task_hub
    query = f"taskHub={hub}&connection=Storage"
    root = f"{base_url}{WEBHOOK_PREFIX}"
    instance = f"{root}/instances/INSTANCEID"
    return {
        "taskHubName": hub,
        "creationUrls": {
            "createNewInstancePostUri": f"{root}/orchestrators/{{functionName}}[/{{instanceId}}]"
                                        f"?{query}",
            "createAndWaitOnNewInstancePostUri": f"{root}/orchestrators/{{functionName}}"
                                                 f"[/{{instanceId}}]?timeout={{timeoutInSeconds}}"
                                                 f"&pollingInterval={{intervalInSeconds}}&{query}",
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
        "requiredQueryStringParameters": query,
        "rpcBaseUrl": f"{base_url}{RPC_PREFIX}/",
        "httpBaseUrl": "",
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
        return None, _error(400, f"request body is not valid JSON: {exc}", "body")
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


def _flag(request: web.Request, name: str, default: bool) -> bool:
    value = request.query.get(name)
    return default if value is None else value.lower() == "true"


class ManagementApi:
    def __init__(self, engine: Engine, base_url: Callable[[web.Request], str]) -> None:
        self.engine = engine
        self.base_url = base_url

    def add_routes(self, app: web.Application) -> None:
        for prefix in (WEBHOOK_PREFIX, RPC_PREFIX):
            app.router.add_post(prefix + "/orchestrators/{name}", self._guard(self.start))
            app.router.add_post(prefix + "/orchestrators/{name}/{id}", self._guard(self.start))
            app.router.add_get(prefix + "/instances", self._guard(self.list))
            app.router.add_get(prefix + "/instances/", self._guard(self.list))
            app.router.add_delete(prefix + "/instances", self._guard(self.purge_many))
            app.router.add_delete(prefix + "/instances/", self._guard(self.purge_many))
            app.router.add_get(prefix + "/instances/{id}", self._guard(self.status))
            app.router.add_delete(prefix + "/instances/{id}", self._guard(self.purge))
            app.router.add_post(prefix + "/instances/{id}/raiseEvent/{event}",
                                self._guard(self.raise_event))
            app.router.add_post(prefix + "/instances/{id}/terminate", self._guard(self.terminate))
            app.router.add_post(prefix + "/instances/{id}/restart", self._guard(self.restart))
            for op in ("rewind", "suspend", "resume"):
                app.router.add_post(prefix + "/instances/{id}/" + op,
                                    self._guard(self._unsupported(op)))

    def _guard(self, handler: Handler) -> Handler:
        async def guarded(request: web.Request) -> web.StreamResponse:
            try:
                return await handler(request)
            except DurableError as exc:
                return _error(exc.status, str(exc))

        return guarded

    def _unsupported(self, op: str) -> Handler:
        async def handler(request: web.Request) -> web.StreamResponse:
            return _error(501, f"devhost does not support {op}; it is available on Azure")

        return handler

    def _accepted(self, request: web.Request, instance_id: str, status: int = 202,
                  body: Any = None) -> web.Response:
        links = management_links(self.engine, self.base_url(request), instance_id)
        return web.json_response(body if body is not None else links, status=status,
                                 headers={"Location": links["statusQueryGetUri"],
                                          "Retry-After": "1"})

    async def start(self, request: web.Request) -> web.StreamResponse:
        input_json, problem = await _json_body(request)
        if problem:
            return problem
        iid = self.engine.start_new(
            request.match_info["name"], request.match_info.get("id"), input_json,
            traceparent=request.headers.get("traceparent"),
            tracestate=request.headers.get("tracestate"))
        return self._accepted(request, iid, body={"id": iid, **management_links(
            self.engine, self.base_url(request), iid)})

    async def status(self, request: web.Request) -> web.StreamResponse:
        iid = request.match_info["id"]
        body = self.engine.status(iid, show_history=_flag(request, "showHistory", False),
                                  show_history_output=_flag(request, "showHistoryOutput", False),
                                  show_input=_flag(request, "showInput", True))
        if body is None:
            return _error(404, f"no instance with id {iid!r}")
        if body["runtimeStatus"] in ("Pending", "Running"):
            return self._accepted(request, iid, body=body)
        return web.json_response(body)

    async def list(self, request: web.Request) -> web.StreamResponse:
        statuses = [s for s in request.query.get("runtimeStatus", "").split(",") if s]
        unknown = [s for s in statuses if s not in _RUNTIME_STATUSES]
        if unknown:
            return _error(400, f"unknown runtimeStatus {unknown[0]!r}", "runtimeStatus")
        try:
            top = int(request.query["top"]) if "top" in request.query else None
            offset = int(request.headers.get("x-ms-continuation-token") or 0)
        except ValueError:
            return _error(400, "top and x-ms-continuation-token must be integers", "top")
        rows = self.engine.store.query_instances(
            statuses or None, request.query.get("createdTimeFrom"),
            request.query.get("createdTimeTo"), request.query.get("instanceIdPrefix"),
            top, offset)
        show_input = _flag(request, "showInput", False)
        headers = {}
        if top is not None and len(rows) == top:
            headers["x-ms-continuation-token"] = str(offset + top)
        return web.json_response([self.engine.status_of(r, show_input=show_input) for r in rows],
                                 headers=headers)

    async def purge(self, request: web.Request) -> web.StreamResponse:
        iid = request.match_info["id"]
        if self.engine.store.get_instance(iid) is None:
            return _error(404, f"no instance with id {iid!r}")
        return web.json_response({"instancesDeleted": self.engine.purge(iid)})

    async def purge_many(self, request: web.Request) -> web.StreamResponse:
        if "createdTimeFrom" not in request.query:
            return _error(400, "createdTimeFrom is required", "createdTimeFrom")
        statuses = [s for s in request.query.get("runtimeStatus", "").split(",") if s]
        deleted = self.engine.purge_many(statuses or None, request.query["createdTimeFrom"],
                                         request.query.get("createdTimeTo"))
        if not deleted:
            return _error(404, "no instances matched")
        return web.json_response({"instancesDeleted": deleted})

    async def raise_event(self, request: web.Request) -> web.StreamResponse:
        data, problem = await _json_body(request)
        if problem:
            return problem
        self.engine.raise_event(request.match_info["id"], request.match_info["event"], data)
        trace_event_raised(self.engine, request.match_info["id"], request.match_info["event"],
                           request.headers.get("traceparent"), request.headers.get("tracestate"))
        return web.Response(status=202)

    async def terminate(self, request: web.Request) -> web.StreamResponse:
        self.engine.terminate(request.match_info["id"], request.query.get("reason"))
        return web.Response(status=202)

    async def restart(self, request: web.Request) -> web.StreamResponse:
        inst = self.engine.store.get_instance(request.match_info["id"])
        if inst is None:
            return _error(404, f"no instance with id {request.match_info['id']!r}")
        new_id = _flag(request, "restartWithNewInstanceId", True)
        iid = self.engine.start_new(inst.name, None if new_id else inst.instance_id, inst.input)
        return self._accepted(request, iid, body=iid)
