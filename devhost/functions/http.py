"""HTTP triggers: the routes `func start` serves under /api, invoked like the worker does."""

from __future__ import annotations

import re
import time
from collections.abc import Awaitable, Callable
from typing import Any

from aiohttp import web
from azure.functions import HttpResponse, meta
from opentelemetry import trace
from opentelemetry.trace import SpanKind, Status, StatusCode
from opentelemetry.trace.propagation.tracecontext import TraceContextTextMapPropagator

from .. import console
from ..hosttelemetry import (
    HOST_CALL_REASON,
    HTTP_STATUS,
    function_result_tags,
    host_tracer_provider,
    http_request_row,
    invocation_traceparent,
)
from .app import AppIndex, FunctionInfo
from .context import InvocationContext
from .invoker import invoke, make_context

_PROPAGATOR = TraceContextTextMapPropagator()
_CONSTRAINTS = {"int": r"-?\d+", "long": r"-?\d+", "alpha": r"[A-Za-z]+",
                "bool": r"(?i:true|false)",
                "guid": r"[0-9A-Fa-f]{8}-?(?:[0-9A-Fa-f]{4}-?){3}[0-9A-Fa-f]{12}",
                "double": r"-?\d+(?:\.\d+)?", "float": r"-?\d+(?:\.\d+)?"}
_PARAM = re.compile(r"\{(\*?)(\w+)(?::(\w+))?(\?)?\}")

# Other bindings the HTTP host fills in for a function, by binding type.
InputProvider = Callable[[FunctionInfo, web.Request], meta.Datum]


LITERAL = "__literal"  # prefix of the placeholders that match route literals


def aiohttp_paths(route: str) -> list[str]:
    """Functions route templates (`items/{id:int?}`) → aiohttp paths (`/api/items/{id:-?\\d+}`).

    Literal text matches case-insensitively, as ASP.NET routing in the Functions host does
    (`Boom/{name}` answers `/api/boom/x`): each literal becomes a placeholder with a
    case-insensitive pattern, dropped from the route parameters again (see `_params`).
    An optional last parameter gives a second path without it, as ASP.NET routing allows.
    """
    optional = False
    parts: list[str] = []
    counter = 0

    def literal(text: str) -> str:
        nonlocal counter
        out = []
        for index, piece in enumerate(text.split("/")):
            if index:
                out.append("/")
            if any(c.isalpha() for c in piece):
                out.append("{" + f"{LITERAL}{counter}:(?i:{re.escape(piece)})" + "}")
                counter += 1
            else:
                out.append(piece)
        return "".join(out)

    template = route.strip("/")
    position = 0
    for match in _PARAM.finditer(template):
        parts.append(literal(template[position:match.start()]))
        star, name, constraint, opt = match.groups()
        optional = optional or bool(opt)
        pattern = ".*" if star else _CONSTRAINTS.get((constraint or "").lower())
        parts.append("{" + name + (":" + pattern if pattern else "") + "}")
        position = match.end()
    parts.append(literal(template[position:]))
    path = "/api/" + "".join(parts)
    paths = [path]
    if optional:
        paths.append(path.rsplit("/", 1)[0] or "/api")
    return paths


def _params(request: web.Request) -> dict[str, str]:
    return {k: v for k, v in request.match_info.items() if not k.startswith(LITERAL)}


def _datum_http(request: web.Request, body: bytes) -> meta.Datum:
    def s(value: str) -> meta.Datum:
        return meta.Datum(type="string", value=value)

    return meta.Datum(type="http", value={
        "method": s(request.method),
        "url": s(str(request.url)),
        "headers": {k.lower(): s(v) for k, v in request.headers.items()},
        "query": {k: s(v) for k, v in request.query.items()},
        "params": {k: s(v) for k, v in _params(request).items()},
        "body": meta.Datum(type="bytes", value=body),
    })


def to_aiohttp(result: Any) -> web.Response:
    if isinstance(result, HttpResponse):
        headers = {k: v for k, v in result.headers.items() if k.lower() != "content-length"}
        headers.setdefault("Content-Type", f"{result.mimetype}; charset={result.charset}")
        return web.Response(status=result.status_code, body=result.get_body(), headers=headers)
    if result is None:
        return web.Response(status=204)
    return web.Response(status=200, text=str(result))


class HttpTriggers:
    """Serves the app's HTTP-triggered functions and records a request span per call,
    as the Functions host does."""

    def __init__(self, index: AppIndex, providers: dict[str, InputProvider],
                 max_body: int = 100 * 1024 * 1024) -> None:
        self.index = index
        self.providers = providers
        self.max_body = max_body
        self.tracer = host_tracer_provider().get_tracer("devhost.functions")

    def add_routes(self, app: web.Application) -> list[tuple[FunctionInfo, str, list[str]]]:
        table = []
        for fn in self.index.http_functions:
            route = str(fn.trigger.settings.get("route") or fn.name)
            methods = [str(m).upper() for m in fn.trigger.settings.get("methods") or
                       ["GET", "POST", "PUT", "DELETE", "PATCH", "HEAD", "OPTIONS"]]
            for path in aiohttp_paths(route):
                for method in methods:
                    app.router.add_route(method, path, self._handler(fn, route))
            table.append((fn, route, methods))
        return table

    def _handler(self, fn: FunctionInfo, route: str
                 ) -> Callable[[web.Request], Awaitable[web.StreamResponse]]:
        async def handle(request: web.Request) -> web.StreamResponse:
            body = await request.read()
            parent = _PROPAGATOR.extract(dict(request.headers))
            name, attributes = http_request_row(fn.name, request.method, request.path,
                                                str(request.url))
            with self.tracer.start_as_current_span(
                name, context=parent, kind=SpanKind.SERVER, attributes=attributes,
                record_exception=False, set_status_on_exception=False,
            ) as span:
                own = span.get_span_context()
                context = make_context(fn, invocation_traceparent(
                    own.trace_id, own.span_id, request.headers.get("traceparent")),
                    request.headers.get("tracestate", ""))
                data = {fn.trigger.name: _datum_http(request, body)}
                for binding in fn.bindings:
                    if binding.direction == "in" and binding.type in self.providers:
                        data[binding.name] = self.providers[binding.type](fn, request)
                started = time.perf_counter()
                response, failure = await self._invoke(fn, data, context)
                span.set_attributes(function_result_tags(
                    fn.name, context.invocation_id, (time.perf_counter() - started) * 1000,
                    failure is None, HOST_CALL_REASON))
                span.set_attribute(HTTP_STATUS, response.status)
                if failure is not None:  # the row's success is the function's outcome
                    span.set_status(Status(StatusCode.ERROR, failure))
                return response

        return handle

    async def _invoke(self, fn: FunctionInfo, data: dict[str, meta.Datum],
                      context: InvocationContext) -> tuple[web.Response, str | None]:
        started = time.perf_counter()
        try:
            return to_aiohttp(await invoke(fn, data, context)), None
        except Exception as exc:  # the host answers 500 when the function throws
            console.invocation_failed(fn.name, context.invocation_id,
                                      (time.perf_counter() - started) * 1000, exc)
            trace.get_current_span().record_exception(exc)
            return web.json_response(
                {"error": f"Exception while executing function: Functions.{fn.name}",
                 "detail": f"{type(exc).__name__}: {exc}"}, status=500), f"{exc}"
