"""The entity part of the extension's HTTP API (`HttpApiHandler`: the `entities/{name?}/{key?}`
route): GET with a key reads the state (`HandleGetEntityRequestAsync`: 200 with the state, 404
when the entity does not exist; key `$` is the empty key), GET without a key lists entities
(`HandleListEntitiesRequestAsync`, `fetchState`), POST signals an operation (`?op=`), DELETE
signals `delete` (`HandlePostEntityOperationRequestAsync`: 202; a JSON body is the input,
another content type is passed as a string). The SDK's `signal_entity` / `read_entity_state`
call these under the RPC prefix."""

from __future__ import annotations

import json

from aiohttp import web

from devhost.durable import entities
from devhost.durable.engine import Engine
from devhost.durable.httpapi.errors import error, flag, guarded

_EMPTY_KEY = "$"


class EntitiesApi:
    def __init__(self, engine: Engine) -> None:
        self.engine = engine

    def add_routes(self, app: web.Application, prefixes: tuple[str, ...]) -> None:
        for prefix in prefixes:
            app.router.add_get(prefix + "/entities", guarded(self.list))
            app.router.add_get(prefix + "/entities/", guarded(self.list))
            app.router.add_get(prefix + "/entities/{name}", guarded(self.list))
            app.router.add_get(prefix + "/entities/{name}/", guarded(self.list))
            app.router.add_get(prefix + "/entities/{name}/{key}", guarded(self.read))
            app.router.add_post(prefix + "/entities/{name}/{key}", guarded(self.signal))
            app.router.add_delete(prefix + "/entities/{name}/{key}", guarded(self.signal))

    def _ref(self, request: web.Request) -> entities.EntityRef:
        key = request.match_info["key"]
        return entities.EntityRef(request.match_info["name"], "" if key == _EMPTY_KEY else key)

    async def read(self, request: web.Request) -> web.StreamResponse:
        row = entities.read(self.engine.store, self._ref(request).scheduler_id)
        if not row.exists:
            return web.Response(status=404)
        return web.Response(status=200, text=row.state if row.state is not None else "null",
                            content_type="application/json")

    async def list(self, request: web.Request) -> web.StreamResponse:
        fetch = flag(request, "fetchState", False)
        rows = entities.list_entities(self.engine.store, request.match_info.get("name"), fetch)
        return web.json_response(rows, headers={"x-ms-continuation-token": ""})

    async def signal(self, request: web.Request) -> web.StreamResponse:
        op = "delete" if request.method == "DELETE" else request.query.get("op", "")
        raw = await request.read()
        input_json: str | None = None
        if raw.strip():
            text = raw.decode("utf-8", errors="replace")
            if request.content_type == "application/json":
                try:
                    value = json.loads(text)
                except json.JSONDecodeError as exc:
                    return error(400, f"Could not parse JSON content: {exc}", "body")
                # The SDK sends the input's JSON text as a JSON string: unwrap it once.
                input_json = value if isinstance(value, str) and _is_json(value) \
                    else json.dumps(value)
            else:
                input_json = json.dumps(text)
        try:
            entities.signal_from_client(self.engine, self._ref(request), op, input_json,
                                        request.headers.get("traceparent"),
                                        request.headers.get("tracestate"))
        except entities.EntityError as exc:
            return error(400, str(exc), "entityId")
        return web.Response(status=202)


def _is_json(text: str) -> bool:
    try:
        json.loads(text)
    except json.JSONDecodeError:
        return False
    return True
