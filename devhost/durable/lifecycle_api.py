"""HTTP handlers for suspend, resume and rewind, as the extension's HttpApiHandler serves
them (`HandleSuspendInstanceRequestAsync`, `HandleResumeInstanceRequestAsync`,
`HandleRewindInstanceRequestAsync`): 404 for an unknown instance, 410 when the instance is
past the operation (terminal; for rewind: anything but Failed), otherwise 202."""

from __future__ import annotations

from aiohttp import web

from .engine import DurableError, Engine


class LifecycleApi:
    def __init__(self, engine: Engine) -> None:
        self.engine = engine

    def add_routes(self, app: web.Application, prefixes: tuple[str, ...]) -> None:
        for prefix in prefixes:
            base = prefix + "/instances/{id}/"
            app.router.add_post(base + "suspend", self.suspend)
            app.router.add_post(base + "resume", self.resume)
            app.router.add_post(base + "rewind", self.rewind)

    async def suspend(self, request: web.Request) -> web.StreamResponse:
        return self._do(request, lambda iid, reason: self.engine.suspend(iid, reason))

    async def resume(self, request: web.Request) -> web.StreamResponse:
        return self._do(request,
                        lambda iid, reason: self.engine.suspend(iid, reason, resume=True))

    async def rewind(self, request: web.Request) -> web.StreamResponse:
        return self._do(request, self.engine.rewind)

    def _do(self, request: web.Request, op: object) -> web.StreamResponse:
        assert callable(op)
        try:
            op(request.match_info["id"], request.query.get("reason"))
        except DurableError as exc:
            return web.json_response({"Message": str(exc), "ExceptionMessage": str(exc)},
                                     status=exc.status)
        return web.Response(status=202)
