"""The devhost HTTP server: Functions routes, the extensions' webhooks and bindings, and
(when asked) the local Application Insights ingestion endpoint, on one aiohttp app — like
`func start`.

The host knows its extensions only through `devhost.host.extensions.Extension` (WebJobs'
IExtensionConfigProvider): which ones run is decided where the host is composed,
`devhost/cli/start.py`."""

from __future__ import annotations

import asyncio
import logging
import threading
import time
from collections.abc import Awaitable, Callable
from dataclasses import dataclass, field
from datetime import UTC, datetime
from typing import Any

from aiohttp import web
from opentelemetry.trace import SpanKind, Status, StatusCode

from devhost.host import console, typed
from devhost.host.app import AppIndex
from devhost.host.channel import Invocation
from devhost.host.extensions import Extension
from devhost.host.http import HttpTriggers
from devhost.host.logs import function_result_failed
from devhost.host.metadata import FunctionInfo
from devhost.host.requests import NON_HTTP_RESULT_CODE
from devhost.host.telemetry import (
    HTTP_STATUS,
    function_result_tags,
    host_tracer_provider,
    invocation_traceparent,
)

log = logging.getLogger("devhost")


@web.middleware
async def json_errors(request: web.Request,
                      handler: Callable[[web.Request], Awaitable[web.StreamResponse]]
                      ) -> web.StreamResponse:
    """Unknown route 404, wrong method 405, oversized body 413: JSON, never HTML."""
    try:
        return await handler(request)
    except web.HTTPException as exc:
        if exc.status < 400:
            raise
        body: dict[str, Any] = {"error": exc.reason, "path": request.path}
        if isinstance(exc, web.HTTPMethodNotAllowed):
            body["allowed"] = sorted(exc.allowed_methods)
        return web.json_response(body, status=exc.status,
                                 headers={k: v for k, v in exc.headers.items()
                                          if k.lower() == "allow"})
    except Exception as exc:  # a bug in devhost itself: say so, as JSON
        log.exception("devhost internal error")
        return web.json_response({"error": "devhost internal error",
                                  "detail": f"{type(exc).__name__}: {exc}"}, status=500)


# What the host itself binds: HTTP triggers and their http output.
HOST_BINDINGS = {"http", "httpTrigger"}


@dataclass
class HostServer:
    """The Functions host for one app: its HTTP triggers under /api, and whatever its
    extensions add (webhooks, input bindings, trigger listeners), started and stopped with it
    as the WebJobs JobHost starts and stops its extensions' listeners."""

    index: AppIndex
    extensions: list[Extension] = field(default_factory=list)
    host: str = "127.0.0.1"
    port: int = 7071
    extra_routes: list[Callable[[web.Application], None]] = field(default_factory=list)
    _runner: web.AppRunner | None = None
    draining: bool = False

    def __post_init__(self) -> None:
        for extension in self.extensions:  # the job host initializes its extensions first
            extension.initialize(self)

    @property
    def base_url(self) -> str:
        host = f"[{self.host}]" if ":" in self.host else self.host
        return f"http://{host}:{self.port}"

    def build_app(self) -> tuple[web.Application, list[tuple[FunctionInfo, str, list[str]]]]:
        app = web.Application(middlewares=[json_errors, self._refuse_while_draining],
                              client_max_size=100 * 1024 * 1024)
        for extension in self.extensions:
            extension.add_routes(app)
        routes = HttpTriggers(self.index, self.input_bindings).add_routes(app)
        for add in self.extra_routes:
            add(app)
        return app, routes

    async def start(self) -> list[tuple[FunctionInfo, str, list[str]]]:
        app, routes = self.build_app()
        self._runner = web.AppRunner(app, access_log=None)
        await self._runner.setup()
        site = web.TCPSite(self._runner, self.host, self.port)
        await site.start()
        if self.port == 0:
            self.port = int(self._runner.addresses[0][1])
        for extension in self.extensions:
            await extension.start()
        return routes

    def input_bindings(self, fn: FunctionInfo) -> list[Any]:
        """The ParameterBindings of `fn`'s input bindings that extensions supply (the
        binding rules' BindToInput), in the function's binding order."""
        supplied = {kind: bind for extension in self.extensions
                    for kind, bind in extension.input_bindings().items()}
        return [typed.binding(binding.name, supplied[binding.type](fn))
                for binding in fn.bindings
                if binding.direction != "out" and binding.type in supplied]

    async def invoke(self, fn: FunctionInfo, trigger: Any, reason: str,
                     faas_trigger: str) -> Any:
        """An invocation an extension's trigger asks for (ITriggeredFunctionExecutor): the
        input bindings extensions supply, like an HTTP trigger gets them, a request span like
        the host records for every invocation, a console line on failure."""
        inputs = [trigger, *self.input_bindings(fn)]
        tracer = host_tracer_provider().get_tracer("devhost.host")
        started = time.perf_counter()
        began = datetime.now(UTC)
        with tracer.start_as_current_span(
                fn.name, kind=SpanKind.SERVER,
                attributes={"faas.trigger": faas_trigger, "faas.name": fn.name,
                            HTTP_STATUS: NON_HTTP_RESULT_CODE},
                record_exception=False) as span:
            # Such a trigger has no caller: the host's Activity starts a trace (flags 00).
            invocation = Invocation(fn, inputs, invocation_traceparent(span), "",
                                    reason=reason)
            outcome = await self.index.workers.outcome(invocation)
            span.set_attributes(function_result_tags(
                fn.name, invocation.invocation_id, (time.perf_counter() - started) * 1000,
                outcome.ok, reason))
            if not outcome.ok:
                error = outcome.as_exception()
                # LogFunctionResult: the exceptions row under this request (Host.Results).
                function_result_failed(fn.name, invocation.invocation_id, outcome.error,
                                       outcome.stack_trace, invocation.traceparent, began,
                                       datetime.now(UTC), reason)
                span.set_status(Status(StatusCode.ERROR, outcome.error))
                console.remote_invocation_failed(fn.name, invocation.invocation_id,
                                                 (time.perf_counter() - started) * 1000,
                                                 outcome.error, outcome.stack_trace)
                raise error
            return typed.text(outcome.return_value)

    @web.middleware
    async def _refuse_while_draining(self, request: web.Request,
                                     handler: Callable[[web.Request],
                                                       Awaitable[web.StreamResponse]]
                                     ) -> web.StreamResponse:
        """New function invocations are refused once shutdown began; the extensions'
        webhooks (the Durable management API) stay up so running functions can still use
        their durable client."""
        if self.draining and request.path.lower().startswith("/api/"):
            return web.json_response({"error": "the host is shutting down", "path": request.path},
                                     status=503, headers={"Retry-After": "1"})
        return await handler(request)

    async def drain(self, timeout: float, report: Callable[[str], None]) -> bool:
        """Shutdown's first step, extensions in the reverse order of their start, all within
        one `timeout` (the host's process shutdown timeout). True when none cut work off."""
        self.draining = True
        started = time.monotonic()
        clean = True
        for extension in reversed(self.extensions):
            remaining = max(timeout - (time.monotonic() - started), 0.0)
            clean = await extension.drain(remaining, report) and clean
        return clean

    async def stop(self) -> None:
        for extension in reversed(self.extensions):
            await extension.stop()
        if self._runner:
            await self._runner.cleanup()

    def close(self) -> None:
        """Release what the extensions hold past `stop`, once nothing runs on the loop."""
        for extension in self.extensions:
            extension.close()

    def banner(self, routes: list[tuple[FunctionInfo, str, list[str]]]) -> str:
        """`func start`'s function list: each function with its trigger, its route or what
        its extension says of it (durable name, schedule), and a clear mark on what devhost
        does not run; then what the extensions add (their endpoints)."""
        worker = self.index.workers.description if self.index.served else "none"
        lines = ["", f"Worker: {worker}",
                 f"Indexed {len(self.index.functions)} functions of "
                 f"{self.index.source} with {self.index.runtime_name} "
                 f"{self.index.runtime_version}", "", "Functions:", ""]
        http = {fn.name: (route, methods) for fn, route, methods in routes}
        for fn in self.index.functions:
            lines.append(f"        {fn.name}: {self._describe(fn, http)}")
        for extension in self.extensions:
            extra = extension.banner_lines()
            if extra:
                lines += ["", *extra]
        lines.append("")
        return "\n".join(lines)

    def _supported_bindings(self) -> set[str]:
        supported = set(HOST_BINDINGS)
        for extension in self.extensions:
            supported |= {*extension.trigger_types, *extension.input_bindings()}
        return supported

    def _describe(self, fn: FunctionInfo, http: dict[str, tuple[str, list[str]]]) -> str:
        kind = fn.trigger.type
        described = None
        if kind == "httpTrigger" and fn.name in http:
            route, methods = http[fn.name]
            auth = str(fn.trigger.settings.get("authLevel", "function")).lower()
            described = (f"[{','.join(methods)}] {self.base_url}/api/{route}  "
                         f"(authLevel: {auth}; keys are not checked locally)")
        for extension in self.extensions:
            if described is None and kind in extension.trigger_types:
                described = extension.describe(fn)
        if described is None:
            return f"{kind}  NOT RUN by devhost: this trigger needs its Azure service"
        text = described
        supported = self._supported_bindings()
        missing = sorted({b.type for b in fn.bindings
                          if b is not fn.trigger and b.type not in supported})
        if missing:
            text += (f"  NOT RUNNABLE by devhost: binding {', '.join(missing)} needs its "
                     "Azure service")
        if fn.retry_policy:
            text += "  retry policy NOT APPLIED by devhost: a failure is not retried"
        return text


class BackgroundHost:
    """A HostServer on its own event-loop thread, for tests, demos and benchmarks."""

    def __init__(self, server: HostServer) -> None:
        self.server = server
        self.routes: list[tuple[FunctionInfo, str, list[str]]] = []
        self.loop = asyncio.new_event_loop()
        self._thread = threading.Thread(target=self.loop.run_forever, name="devhost",
                                        daemon=True)

    def __enter__(self) -> BackgroundHost:
        self._thread.start()
        self.routes = self.call(self.server.start())
        return self

    def __exit__(self, *exc: object) -> None:
        self.call(self.server.stop())
        self.loop.call_soon_threadsafe(self.loop.stop)
        self._thread.join(10)
        self.server.close()  # what the extensions hold (a store) lives as long as the host

    @property
    def base_url(self) -> str:
        return self.server.base_url

    def call(self, coro: Awaitable[Any], timeout: float = 120) -> Any:
        return asyncio.run_coroutine_threadsafe(coro, self.loop).result(timeout)  # type: ignore[arg-type]
