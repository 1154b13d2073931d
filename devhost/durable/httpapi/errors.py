"""What every handler of the extension's HTTP API shares (`HttpApiHandler`): the error body
(`Message`/`ExceptionMessage`, plus the field devhost names), bool query parameters as
`bool.TryParse` reads them, and the mapping of the engine's errors to responses (404 and 410
are `CreateResponse(NotFound/Gone)`: no body)."""

from __future__ import annotations

from collections.abc import Awaitable, Callable
from typing import Any

from aiohttp import web

from devhost.durable.errors import DurableError

Handler = Callable[[web.Request], Awaitable[web.StreamResponse]]


def error(status: int, message: str, field: str | None = None,
          exception: str | None = None) -> web.Response:
    body: dict[str, Any] = {"Message": message, "ExceptionMessage": exception or message}
    if field:
        body["field"] = field
    return web.json_response(body, status=status)


def flag(request: web.Request, name: str, default: bool) -> bool:
    """TryGetBooleanQueryParameterValue (bool.TryParse): anything but true/false → default."""
    value = (request.query.get(name) or "").strip().lower()
    return {"true": True, "false": False}.get(value, default)


def guarded(handler: Handler) -> Handler:
    async def guard(request: web.Request) -> web.StreamResponse:
        try:
            return await handler(request)
        except DurableError as exc:
            if exc.status in (404, 410):  # request.CreateResponse(NotFound/Gone): no body
                return web.Response(status=exc.status)
            return error(exc.status, str(exc))

    return guard
