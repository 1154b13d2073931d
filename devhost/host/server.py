"""The devhost HTTP server: Functions routes, the Durable management API and (when asked)
the local Application Insights ingestion endpoint, on one aiohttp app — like `func start`."""

from __future__ import annotations

import asyncio
import ipaddress
import json
import logging
import threading
import time
from collections.abc import Awaitable, Callable
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from aiohttp import web
from opentelemetry.trace import SpanKind, Status, StatusCode

from devhost.durable.engine import Engine
from devhost.durable.httpapi.management import ManagementApi, client_payload
from devhost.host import console, typed
from devhost.host.app import AppIndex, FunctionInfo
from devhost.host.channel import Invocation
from devhost.host.http import HttpTriggers
from devhost.host.telemetry import host_tracer_provider, invocation_traceparent
from devhost.timers.listener import Timer, TimerHost, fired_reason, next_occurrences

log = logging.getLogger("devhost")


def is_loopback(host: str) -> bool:
    if host == "localhost":
        return True
    try:
        return ipaddress.ip_address(host).is_loopback
    except ValueError:
        return False


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


@dataclass
class HostServer:
    index: AppIndex
    engine: Engine
    host: str = "127.0.0.1"
    port: int = 7071
    extra_routes: list[Callable[[web.Application], None]] = field(default_factory=list)
    data_dir: Path | None = None
    _runner: web.AppRunner | None = None
    draining: bool = False
    timers: TimerHost | None = None

    @property
    def base_url(self) -> str:
        host = f"[{self.host}]" if ":" in self.host else self.host
        return f"http://{host}:{self.port}"

    def build_app(self) -> tuple[web.Application, list[tuple[FunctionInfo, str, list[str]]]]:
        app = web.Application(middlewares=[json_errors, self._refuse_while_draining],
                              client_max_size=100 * 1024 * 1024)
        ManagementApi(self.engine, lambda _request: self.base_url).add_routes(app)

        routes = HttpTriggers(self.index, {"durableClient": lambda _fn, _request:
                                           self._durable_client()}).add_routes(app)
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
        await self.engine.start()
        self.timers = TimerHost(self.index, self._invoke_timer,
                                self.data_dir or self.engine.store.path.parent)
        await self.timers.start()
        return routes

    def _durable_client(self) -> Any:
        # The extension binds durableClient to a JSON string for out-of-proc workers.
        return typed.string(json.dumps(client_payload(self.engine, self.base_url)))

    async def _invoke_timer(self, fn: FunctionInfo, trigger: Any) -> Any:
        """A timer invocation: the durable client binding like an HTTP trigger gets it, a
        request span like the host records for every invocation, a console line on failure."""
        inputs = [trigger]
        for binding in fn.bindings:
            if binding.direction != "out" and binding.type == "durableClient":
                inputs.append(typed.binding(binding.name, self._durable_client()))
        tracer = host_tracer_provider().get_tracer("devhost.host")
        started = time.perf_counter()
        with tracer.start_as_current_span(
                fn.name, kind=SpanKind.SERVER,
                attributes={"faas.trigger": "timer", "faas.name": fn.name}) as span:
            # A timer has no caller: the host's Activity starts a trace (flags 00).
            invocation = Invocation(fn, inputs, invocation_traceparent(span), "",
                                    reason=fired_reason())
            outcome = await self.index.invoker.outcome(invocation)
            if not outcome.ok:
                error = outcome.as_exception()
                span.record_exception(error)
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
        """New function invocations are refused once shutdown began; the management API
        stays up so running functions can still use their durable client."""
        if self.draining and request.path.lower().startswith("/api/"):
            return web.json_response({"error": "the host is shutting down", "path": request.path},
                                     status=503, headers={"Retry-After": "1"})
        return await handler(request)

    async def drain(self, timeout: float, report: Callable[[str], None]) -> bool:
        self.draining = True
        started = time.monotonic()
        timers_clean = await self.timers.stop(timeout, report) if self.timers else True
        remaining = max(timeout - (time.monotonic() - started), 0.0)
        return await self.engine.drain(remaining, report) and timers_clean

    async def stop(self) -> None:
        if self.timers:
            await self.timers.stop()
        await self.engine.stop()
        if self._runner:
            await self._runner.cleanup()

    def banner(self, routes: list[tuple[FunctionInfo, str, list[str]]]) -> str:
        """`func start`'s function list: each function with its trigger, its route or durable
        name or schedule, and a clear mark on what devhost does not run."""
        worker = self.index.worker
        lines = ["", f"Worker: {worker.description if worker else 'none'}",
                 f"Indexed {len(self.index.functions)} functions of "
                 f"{self.index.script_file} with azure-functions-runtime "
                 f"{self.index.runtime_version}", "", "Functions:", ""]
        http = {fn.name: (route, methods) for fn, route, methods in routes}
        timers = {t.name: t for t in (self.timers.timers if self.timers else [])}
        for fn in self.index.functions:
            lines.append(f"        {fn.name}: {self._describe(fn, http, timers)}")
        lines += ["", f"Durable management API: {self.base_url}/runtime/webhooks/durabletask/",
                  f"Task hub: {self.engine.options.task_hub}  "
                  f"store: {self.engine.store.path}", ""]
        return "\n".join(lines)

    def _describe(self, fn: FunctionInfo, http: dict[str, tuple[str, list[str]]],
                  timers: dict[str, Timer]) -> str:
        kind = fn.trigger.type
        if kind == "httpTrigger" and fn.name in http:
            route, methods = http[fn.name]
            auth = str(fn.trigger.settings.get("authLevel", "function")).lower()
            text = (f"[{','.join(methods)}] {self.base_url}/api/{route}  "
                    f"(authLevel: {auth}; keys are not checked locally)")
        elif kind in DURABLE_TRIGGERS:
            label = DURABLE_TRIGGERS[kind]
            text = f"{kind}  ({label}: {fn.durable_name})" if fn.durable_name != fn.name \
                else kind
        elif kind == "timerTrigger" and fn.name in timers:
            timer = timers[fn.name]
            upcoming = next_occurrences(timer, 1, self.timers.zone if self.timers else None)
            text = (f"timerTrigger  (schedule: {timer.schedule.expression}, "
                    f"{self.timers.zone if self.timers else 'UTC'}; next: "
                    f"{upcoming[0].isoformat()}"
                    + ("; runOnStartup" if timer.run_on_startup else "")
                    + ("" if timer.use_monitor else "; no schedule monitor") + ")")
        else:
            return f"{kind}  NOT RUN by devhost: this trigger needs its Azure service"
        missing = sorted({b.type for b in fn.bindings
                          if b is not fn.trigger and b.type not in SUPPORTED_BINDINGS})
        if missing:
            text += (f"  NOT RUNNABLE by devhost: binding {', '.join(missing)} needs its "
                     "Azure service")
        if fn.retry_policy:
            text += "  retry policy NOT APPLIED by devhost: a failure is not retried"
        return text


DURABLE_TRIGGERS = {"orchestrationTrigger": "durable name", "activityTrigger": "durable name",
                    "entityTrigger": "entity name"}
SUPPORTED_BINDINGS = {"http", "durableClient", "httpTrigger", "timerTrigger",
                      *DURABLE_TRIGGERS}


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
        self.server.engine.store.close()  # the host's store lives as long as the host

    @property
    def base_url(self) -> str:
        return self.server.base_url

    def call(self, coro: Awaitable[Any], timeout: float = 120) -> Any:
        return asyncio.run_coroutine_threadsafe(coro, self.loop).result(timeout)  # type: ignore[arg-type]
