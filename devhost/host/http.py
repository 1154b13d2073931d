"""HTTP triggers: the routes `func start` serves under /api, sent to the worker as RpcHttp.

The request goes out as the host sends it to a worker that announced RawHttpBodyBytes and
RpcHttpBodyOnly (GrpcMessageConversionExtensions.ToRpcHttp): method, url, headers, query,
route params and the body as bytes. The response is the `$return` (or named) http output.
A failed invocation is answered 500 with an empty body, as the host does.
"""

from __future__ import annotations

import re
import time
from collections.abc import Awaitable, Callable
from datetime import UTC, datetime
from typing import Any

from aiohttp import web
from opentelemetry.trace import SpanKind, Status, StatusCode
from opentelemetry.trace.propagation.tracecontext import TraceContextTextMapPropagator

from devhost import rpc
from devhost.host import console, triggerdata, typed
from devhost.host.app import AppIndex
from devhost.host.channel import Invocation, Outcome
from devhost.host.logs import function_result_failed
from devhost.host.metadata import FunctionInfo
from devhost.host.telemetry import (
    HOST_CALL_REASON,
    HTTP_STATUS,
    function_result_tags,
    host_tracer_provider,
    http_request_row,
    invocation_traceparent,
)

_PROPAGATOR = TraceContextTextMapPropagator()
_CONSTRAINTS = {"int": r"-?\d+", "long": r"-?\d+", "alpha": r"[A-Za-z]+",
                "bool": r"(?i:true|false)",
                "guid": r"[0-9A-Fa-f]{8}-?(?:[0-9A-Fa-f]{4}-?){3}[0-9A-Fa-f]{12}",
                "double": r"-?\d+(?:\.\d+)?", "float": r"-?\d+(?:\.\d+)?"}
_PARAM = re.compile(r"\{(\*?)(\w+)(?::(\w+))?(\?)?\}")

# The function's other input bindings (ParameterBindings), as the host's extensions supply
# them (see devhost/host/extensions.py).
InputBindings = Callable[[FunctionInfo], list[Any]]


LITERAL = "__literal"  # prefix of the placeholders that match route literals
ROUTE_PREFIX = "api"  # the host's default extensions.http.routePrefix
_PLAIN_PARAM = re.compile(r"(\{\w+\})")


class _Literals:
    """Turns literal route text into placeholders that match it in any case, numbered
    within one path (aiohttp wants unique names); `_params` drops them again."""

    def __init__(self) -> None:
        self.counter = 0

    def __call__(self, text: str) -> str:
        out = []
        for index, piece in enumerate(text.split("/")):
            if index:
                out.append("/")
            if any(c.isalpha() for c in piece):
                out.append("{" + f"{LITERAL}{self.counter}:(?i:{re.escape(piece)})" + "}")
                self.counter += 1
            else:
                out.append(piece)
        return "".join(out)


def insensitive(path: str) -> str:
    """An aiohttp path of literals and plain `{name}` parameters whose literals match in any
    case: the host routes `runtime/webhooks/{extensionName}` with ASP.NET attribute routing
    and looks the extension up OrdinalIgnoreCase (HostController.ExtensionWebHookHandler,
    DefaultScriptWebHookProvider), and the Durable extension matches the rest with
    TemplateMatcher (HttpApiHandler.HandleRequestAsync), all case-insensitive."""
    literal = _Literals()
    return "".join(piece if _PLAIN_PARAM.fullmatch(piece) else literal(piece)
                   for piece in _PLAIN_PARAM.split(path))


def aiohttp_paths(route: str) -> list[str]:
    """Functions route templates (`items/{id:int?}`) → aiohttp paths (`/api/items/{id:-?\\d+}`).

    Literal text matches case-insensitively, the `api` prefix included, as ASP.NET routing in
    the Functions host does (`Boom/{name}` answers `/API/boom/x`): each literal becomes a
    placeholder with a case-insensitive pattern, dropped from the route parameters again
    (see `_params`). An optional last parameter gives a second path without it, as ASP.NET
    routing allows.
    """
    optional = False
    parts: list[str] = []
    literal = _Literals()
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
    prefix = "/" + literal(ROUTE_PREFIX)
    path = prefix + "/" + "".join(parts)
    paths = [path]
    if optional:
        paths.append(path.rsplit("/", 1)[0] or prefix)
    return paths


def _params(request: web.Request) -> dict[str, str]:
    return {k: v for k, v in request.match_info.items() if not k.startswith(LITERAL)}


def _headers(request: web.Request) -> dict[str, str]:
    """The request's headers as ASP.NET Core's HeaderDictionary gives them: the name as
    sent, repeated values joined with a comma (StringValues.ToString)."""
    names: dict[str, str] = {}
    for name in request.headers.keys():
        names.setdefault(name.lower(), name)  # a name sent twice keeps its first spelling
    return {name: ",".join(request.headers.getall(name)) for name in names.values()}


def rpc_http(request: web.Request, body: bytes) -> rpc.TypedData:
    return rpc.TypedData(http=rpc.RpcHttp(
        method=request.method, url=str(request.url),
        headers={k.lower(): v for k, v in request.headers.items()},
        query=dict(request.query), params=_params(request),
        body=rpc.TypedData(bytes=body)))


def to_aiohttp(fn: FunctionInfo, outcome: Outcome) -> web.Response:
    """The http output binding of the response: `$return` or the named one."""
    out = next((b for b in fn.bindings if b.type == "http" and b.direction == "out"), None)
    data = outcome.return_value if out is None or out.name == "$return" else \
        outcome.outputs.get(out.name)
    if data is None or data.WhichOneof("data") != "http":
        body = typed.text(data)
        return web.Response(status=204) if body is None else web.Response(status=200, text=body)
    http = data.http
    # Kestrel writes known headers with their canonical names (Content-Type, not content-type).
    headers = {"-".join(p.capitalize() for p in k.split("-")): v
               for k, v in http.headers.items() if k.lower() != "content-length"}
    return web.Response(status=int(http.status_code or 200), body=typed.body_bytes(http.body),
                        headers=headers)


class HttpTriggers:
    """Serves the app's HTTP-triggered functions and records a request span per call,
    as the Functions host does."""

    def __init__(self, index: AppIndex, input_bindings: InputBindings,
                 max_body: int = 100 * 1024 * 1024) -> None:
        self.index = index
        self.input_bindings = input_bindings
        self.max_body = max_body
        self.tracer = host_tracer_provider().get_tracer("devhost.host")

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
                inputs = [typed.binding(fn.trigger.name, rpc_http(request, body)),
                          *self.input_bindings(fn)]
                invocation = Invocation(fn, inputs, invocation_traceparent(span, parent),
                    request.headers.get("tracestate", ""), reason=HOST_CALL_REASON,
                    trigger_metadata=triggerdata.http(inputs[0].data.http, _headers(request)))
                response, failure, elapsed_ms = await self._invoke(fn, invocation)
                span.set_attributes(function_result_tags(
                    fn.name, invocation.invocation_id, elapsed_ms, failure is None,
                    HOST_CALL_REASON))
                span.set_attribute(HTTP_STATUS, response.status)
                if failure is not None:  # the row's success is the function's outcome
                    span.set_status(Status(StatusCode.ERROR, failure))
                return response

        return handle

    async def _invoke(self, fn: FunctionInfo, invocation: Invocation
                      ) -> tuple[web.Response, str | None, float]:
        """(response, failure, milliseconds taken)."""
        started, began = time.perf_counter(), datetime.now(UTC)
        outcome = await self.index.workers.outcome(invocation)
        elapsed_ms = (time.perf_counter() - started) * 1000
        if outcome.ok:
            return to_aiohttp(fn, outcome), None, elapsed_ms
        # The host answers 500 with an empty body when the function throws.
        console.remote_invocation_failed(fn.name, invocation.invocation_id, elapsed_ms,
                                         outcome.error, outcome.stack_trace)
        function_result_failed(fn.name, invocation.invocation_id, outcome.error,
                               outcome.stack_trace, invocation.traceparent, began,
                               datetime.now(UTC), HOST_CALL_REASON)
        return web.Response(status=500), outcome.error, elapsed_ms
