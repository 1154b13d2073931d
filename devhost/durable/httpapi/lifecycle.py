"""HTTP handlers for suspend, resume and rewind, as the extension's HttpApiHandler serves
them (`HandleSuspendInstanceRequestAsync`, `HandleResumeInstanceRequestAsync`,
`HandleRewindInstanceRequestAsync`), otherwise 202:
- suspend/resume: 404 (no body) for an unknown instance, 410 (no body) for a terminal one;
- rewind, as extension 3.x answers since PR #3227 ("Add Rewind to .NET isolated", which
  moved 410 to 412 and gave both errors a message; azure-functions-durable-js PR #661 follows
  it): 404 with a message for an unknown instance, 412 with a message for one that is not
  Failed."""

from __future__ import annotations

from collections.abc import Callable

from aiohttp import web

from devhost.durable.engine import Engine, NotFound
from devhost.durable.httpapi.errors import error, guarded


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
        try:
            return self._do(request, self.engine.rewind)
        except NotFound as exc:  # a 412 (PreconditionFailed) keeps its message via `guarded`
            return error(404, str(exc), "id")

    @staticmethod
    def _do(request: web.Request, op: Callable[[str, str | None], object]
            ) -> web.StreamResponse:
        op(request.match_info["id"], request.query.get("reason"))
        return web.Response(status=202)
