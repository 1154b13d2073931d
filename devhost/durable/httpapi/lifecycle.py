"""HTTP handlers for suspend, resume and rewind, as the extension's HttpApiHandler serves
them (`HandleSuspendInstanceRequestAsync`, `HandleResumeInstanceRequestAsync`,
`HandleRewindInstanceRequestAsync`): 404 for an unknown instance, 410 when the instance is
past the operation (terminal; for rewind: anything but Failed), otherwise 202."""

from __future__ import annotations

from collections.abc import Callable

from aiohttp import web

from devhost.durable.engine import Engine
from devhost.durable.httpapi.errors import guarded


class LifecycleApi:
    def __init__(self, engine: Engine) -> None:
        self.engine = engine

    def add_routes(self, app: web.Application, prefixes: tuple[str, ...]) -> None:
        for prefix in prefixes:
            base = prefix + "/instances/{id}/"
            app.router.add_post(base + "suspend", guarded(self.suspend))
            app.router.add_post(base + "resume", guarded(self.resume))
            app.router.add_post(base + "rewind", guarded(self.rewind))

    async def suspend(self, request: web.Request) -> web.StreamResponse:
        return self._do(request, self.engine.suspend)

    async def resume(self, request: web.Request) -> web.StreamResponse:
        return self._do(request,
                        lambda iid, reason: self.engine.suspend(iid, reason, resume=True))

    async def rewind(self, request: web.Request) -> web.StreamResponse:
        return self._do(request, self.engine.rewind)

    @staticmethod
    def _do(request: web.Request, op: Callable[[str, str | None], object]
            ) -> web.StreamResponse:
        op(request.match_info["id"], request.query.get("reason"))
        return web.Response(status=202)
