"""`devhost …` (or `python -m devhost …`): the local stand-in for `func start` and the Durable
extension."""

from __future__ import annotations

import argparse
import asyncio
import errno
import json
import os
import re
import signal
import socket
import sys
from pathlib import Path

from devhost.cli.client import RUNNING, follow, new_traceparent, send
from devhost.cli.start import (
    HostConfig,
    flush_telemetry,
    host_server,
    link_portal,
    load,
    local_insights_db,
    run_sync,
    script_file,
    stop_workers,
    telemetry_destination,
)
from devhost.durable.engine import DurableError, Engine
from devhost.durable.history import RuntimeStatus
from devhost.durable.shutdown import DEFAULT_TIMEOUT_S
from devhost.host import loaderrors
from devhost.host.app import AppIndex
from devhost.host.functionjson import METADATA_FILE, is_v1_app
from devhost.host.logs import shutdown as shutdown_host_logs
from devhost.host.loopback import is_loopback
from devhost.host.metadata import AppLoadError
from devhost.host.processes import ProcessWorkers
from devhost.host.server import BackgroundHost, HostServer
from devhost.host.settings import SettingsError
from devhost.insights.cli import JsonErrorParser
from devhost.insights.cli import register as register_insights
from devhost.insights.errors import StoreBusyError
from devhost.insights.view import load_operation, load_run, render_text
from devhost.timers.listener import timers_of


class LoadFailure(Exception):
    """Anything that stopped the app from loading (reported by loaderrors, exit 2)."""

    def __init__(self, error: BaseException, app_dir: Path, script: str) -> None:
        super().__init__(str(error))
        self.error = error
        self.app_dir = app_dir
        self.script = script


class UsageError(Exception):
    """A flag or argument that cannot work: one JSON line naming it, exit 2, nothing done."""

    def __init__(self, message: str, field: str) -> None:
        super().__init__(message)
        self.field = field


def _port(text: str) -> int:
    """A TCP port, 0 for any free one (what the OS's bind accepts)."""
    try:
        port = int(text)
    except ValueError:
        raise argparse.ArgumentTypeError(f"{text!r} is not a port number") from None
    if not 0 <= port <= 65535:
        raise argparse.ArgumentTypeError(f"{port} is not a port: 0-65535")
    return port


_METHODS = ("GET", "HEAD", "POST", "PUT", "PATCH", "DELETE", "OPTIONS")


def _check_request(method: str, path: str) -> None:
    """What `call` sends goes to the host it starts on a port of its own: a path, not a URL."""
    if method not in _METHODS:
        raise UsageError(f"method {method}: one of {', '.join(_METHODS)}", "method")
    if re.match(r"^[a-z][a-z0-9+.-]*://", path, re.IGNORECASE):
        raise UsageError(f"path {path}: give the path only (e.g. /api/start-sub-orchestration):"
                         " devhost call serves the app on a port of its own", "path")
    if not path.startswith("/"):
        raise UsageError(f"path {path}: a path starts with / (e.g. /{path})", "path")


def _check_app(args: argparse.Namespace) -> None:
    """`--app` names a script in `--app-dir`: say which one is missing before any worker
    starts (the worker would only find no functions, naming neither). Without the script,
    function.json folders are a v1-model app, which the worker runs without one."""
    if not args.app_dir.is_dir():
        raise UsageError(f"--app-dir {args.app_dir} is not a folder", "app_dir")
    script = script_file(args.app)
    if not (args.app_dir / script).is_file() and not is_v1_app(args.app_dir):
        raise UsageError(f"--app {args.app}: no {script} in {args.app_dir.resolve()}, and no "
                         f"folder with a {METADATA_FILE} (the v1 model)", "app")


def _check_port(host: str, port: int) -> None:
    """A port another process listens on is refused before anything is loaded or written,
    with the flag that changes it (aiohttp's bind, later, would end in a traceback). Bound as
    asyncio's create_server binds: SO_REUSEADDR, IPV6_V6ONLY, and an address family or an
    address this machine cannot use is skipped, not refused."""
    try:
        infos = socket.getaddrinfo(host, port, type=socket.SOCK_STREAM, flags=socket.AI_PASSIVE)
    except socket.gaierror as exc:
        raise UsageError(f"--host {host}: {exc.strerror}", "host") from exc
    for family, kind, proto, _name, address in infos:
        try:
            probe = socket.socket(family, kind, proto)
        except OSError:
            continue  # no such family here (IPv6 off): asyncio skips it too
        with probe:
            probe.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
            if family == socket.AF_INET6 and hasattr(socket, "IPPROTO_IPV6"):
                probe.setsockopt(socket.IPPROTO_IPV6, socket.IPV6_V6ONLY, 1)
            try:
                probe.bind(address)
            except OSError as exc:
                if exc.errno == errno.EADDRNOTAVAIL:
                    continue
                raise _bind_error(host, port, exc) from exc


def _bind_error(host: str, port: int, exc: OSError) -> UsageError:
    if exc.errno == errno.EADDRINUSE:
        return UsageError(f"port {port} on {host} is in use: pass --port to use another",
                          "port")
    return UsageError(f"cannot listen on port {port} on {host} ({exc.strerror})", "port")


def _load(args: argparse.Namespace, timers: bool = False) -> tuple[AppIndex, Engine]:
    _check_app(args)
    try:
        index, engine = load(HostConfig(args.app, args.app_dir, args.data_dir,
                                        console_invocations=not getattr(args, "quiet", False)))
        if timers:
            timers_of(index)  # a bad schedule is an indexing error, before anything serves
    except StoreBusyError as exc:
        raise UsageError(str(exc), "data_dir") from exc
    except Exception as exc:
        raise LoadFailure(exc, args.app_dir, script_file(args.app)) from exc
    return index, engine


def _common(parser: argparse.ArgumentParser) -> None:
    parser.add_argument("--app", default="function_app", help="app module (default: function_app)")
    parser.add_argument("--app-dir", type=Path, default=Path("."), help="folder of the app")
    parser.add_argument("--data-dir", type=Path, default=Path(".devhost"),
                        help="durable store and local telemetry (default: .devhost)")
    parser.add_argument("--tree", action="store_true",
                        help="print the run's span tree from local insights at the end")


def _cmd_run(args: argparse.Namespace) -> int:
    if args.input is not None:
        try:
            json.loads(args.input)
        except json.JSONDecodeError as exc:
            print(json.dumps({"error": f"--input is not valid JSON: {exc}", "field": "input"}),
                  file=sys.stderr)
            return 2
    index, engine = _load(args)
    try:
        status = run_sync(engine, args.orchestrator, args.input, args.instance_id, args.timeout)
    finally:
        stop_workers(index)
        flush_telemetry()
    print(json.dumps(status, indent=2))
    _show_run(args, status["instanceId"])
    return 0 if status["runtimeStatus"] == RuntimeStatus.COMPLETED else 1


def _show_run(args: argparse.Namespace, instance_id: str, operation: str | None = None) -> None:
    """Print the run as App Insights recorded it (only when it went to local insights). Called
    once this process flushed what its host holds, so the host's rows are all filed.

    A run's rows name its instance only through the Durable spans (tracing V2) and the app's
    own; without them each invocation is its own operation, as on Azure. Then the operation
    of the request `call` sent (`operation`) is what can be shown, and the line says why."""
    db = local_insights_db()
    if not getattr(args, "tree", False) or not db:
        return
    roots = load_run(db, instance_id)
    print(f"\nThe run as captured by local Application Insights ({db}):\n")
    if not roots and operation is not None and (roots := load_operation(db, operation)):
        print(f"(no row names instance {instance_id}: the Durable spans that link a run's "
              "orchestrations and activities are written only with distributed tracing V2, "
              "host.json extensions.durableTask.tracing; this is the operation of the "
              "request that started it)\n")
    print(render_text(roots) if roots else "(no telemetry captured for this run)")


def _cmd_start(args: argparse.Namespace) -> int:
    if not is_loopback(args.host) and not args.allow_remote:
        print(json.dumps({"error": f"refusing to bind {args.host}: devhost serves the management "
                          "API without keys; pass --allow-remote to do it anyway",
                          "field": "host"}), file=sys.stderr)
        return 2
    if not is_loopback(args.host):
        print(f"WARNING: binding {args.host}: anyone who can reach this address can start, "
              "terminate and purge orchestrations.", file=sys.stderr)
    _check_port(args.host, args.port)
    index, engine = _load(args, timers=True)
    server = host_server(index, engine, args.host, args.port)
    try:
        return asyncio.run(_serve(server, args.shutdown_timeout))
    finally:
        stop_workers(index)


async def _serve(server: HostServer, shutdown_timeout: float = DEFAULT_TIMEOUT_S) -> int:
    """Serve until SIGINT/SIGTERM, then shut down gracefully (see durable/shutdown.py).
    A second signal exits at once: every state change is one SQLite transaction, so
    whatever was running is simply pending again at the next start."""
    stop = asyncio.Event()
    loop = asyncio.get_running_loop()

    def on_signal() -> None:
        if stop.is_set():
            print("Second interrupt: exiting now. Unfinished work is stored and resumes at "
                  "the next start.", file=sys.stderr, flush=True)
            _exit_now(server, 130)
        stop.set()

    for sig in (signal.SIGINT, signal.SIGTERM):
        loop.add_signal_handler(sig, on_signal)
    try:
        routes = await server.start()
    except OSError as exc:
        if exc.errno != errno.EADDRINUSE:  # not the bind: an extension's own failure
            raise
        await server.stop()  # taken between _check_port and now
        raise _bind_error(server.host, server.port, exc) from exc
    link_portal(server.port)
    print(server.banner(routes), telemetry_destination(), "", sep="\n", flush=True)
    clean = True
    try:
        await stop.wait()
        print("Application is shutting down: no new work is taken; running activities "
              "finish and commit (press Ctrl+C again to exit at once).", flush=True)
        clean = await server.drain(shutdown_timeout, lambda line: print(line, flush=True))
    finally:
        await server.stop()
        if not clean:  # before the flush, which can take seconds
            _kill_workers(server)
        flush_telemetry()
    if not clean:
        # Abandoned activities still occupy worker threads, which the interpreter would
        # join at exit: leave without waiting for them (their work items stay pending).
        _exit_now(server, 0)
    return 0


def _exit_now(server: HostServer, code: int) -> None:
    """Leave without `_cmd_start`'s `stop_workers`, which would wait for the workers: kill
    them first (the host's WorkerProcess.Dispose kills its worker process too). A worker
    left running would finish an activity the store still holds as pending, so the next
    start would run it a second time, concurrently."""
    _kill_workers(server)
    sys.stdout.flush()
    sys.stderr.flush()
    os._exit(code)


def _kill_workers(server: HostServer) -> None:
    if server.index.served and isinstance(server.index.workers, ProcessWorkers):
        server.index.workers.kill()


def _cmd_call(args: argparse.Namespace) -> int:
    """Serve the app (its workers included), send one request, follow the orchestration it
    starts."""
    body = args.body.encode() if args.body is not None else b""
    _check_request(args.method, args.path)
    index, engine = _load(args, timers=True)
    try:
        with BackgroundHost(host_server(index, engine, port=0)) as host:
            print(host.server.banner(host.routes), file=sys.stderr, flush=True)
            traceparent, operation = new_traceparent()
            status, reply = send(args.method, host.base_url + args.path, body,
                                 traceparent=traceparent)
            print(json.dumps({"status": status, "body": reply}, indent=2))
            final = None
            if args.follow and isinstance(reply, dict) and "statusQueryGetUri" in reply:
                final = follow(reply["statusQueryGetUri"], args.timeout)
                print(json.dumps(final, indent=2))
                if final.get("runtimeStatus") in RUNNING:
                    print(json.dumps({
                        "error": f"timed out after {args.timeout:g}s: instance "
                                 f"{final.get('instanceId')} is still "
                                 f"{final.get('runtimeStatus')} (its last status is above)",
                        "field": "timeout"}), file=sys.stderr)
    finally:
        stop_workers(index)
    flush_telemetry()
    if final is not None and final.get("instanceId"):
        _show_run(args, final["instanceId"], operation)
    if final is not None:
        return 0 if final.get("runtimeStatus") == RuntimeStatus.COMPLETED else 1
    return 0 if status < 400 else 1


def build_parser() -> argparse.ArgumentParser:
    parser = JsonErrorParser(prog="devhost", description=__doc__)
    sub = parser.add_subparsers(dest="command", required=True)
    run = sub.add_parser("run", help="run one orchestration to completion and print its status")
    run.add_argument("orchestrator")
    run.add_argument("--input", help="orchestration input as JSON")
    run.add_argument("--instance-id", help="instance id (default: a new GUID)")
    run.add_argument("--timeout", type=float, default=120.0, help="seconds to wait")
    _common(run)
    run.set_defaults(handler=_cmd_run)
    start = sub.add_parser("start", help="serve the app like `func start` (HTTP + Durable)")
    start.add_argument("--host", default="127.0.0.1", help="address to bind (loopback)")
    start.add_argument("--port", type=_port, default=7071,
                       help="port to serve (default 7071; 0: any free one)")
    start.add_argument("--allow-remote", action="store_true",
                       help="allow binding a non-loopback address")
    start.add_argument("--quiet", action="store_true",
                       help="no Executing/Executed line per invocation on the console")
    start.add_argument("--shutdown-timeout", type=float, default=DEFAULT_TIMEOUT_S,
                       help="seconds running activities get to finish on shutdown "
                            f"(default {DEFAULT_TIMEOUT_S:g}, the host's process shutdown timeout)")
    _common(start)
    start.set_defaults(handler=_cmd_start)
    register_insights(sub)
    call = sub.add_parser("call", help="serve the app, send one HTTP request and "
                          "follow the orchestration it starts to the end")
    call.add_argument("method", type=str.upper)
    call.add_argument("path", help="e.g. /api/start-sub-orchestration")
    call.add_argument("--body", help="request body (sent as is)")
    call.add_argument("--no-follow", dest="follow", action="store_false",
                      help="do not poll statusQueryGetUri")
    call.add_argument("--timeout", type=float, default=120.0,
                      help="seconds to follow the orchestration (default 120)")
    _common(call)
    call.set_defaults(handler=_cmd_call)
    return parser


def main(argv: list[str] | None = None) -> int:
    args = build_parser().parse_args(argv)
    try:
        return int(args.handler(args))
    except UsageError as exc:
        print(json.dumps({"error": str(exc), "field": exc.field}), file=sys.stderr)
        return 2
    except LoadFailure as failure:
        print(loaderrors.report(failure.error, failure.app_dir, failure.script),
              file=sys.stderr)
        return loaderrors.EXIT_CODE
    except (AppLoadError, SettingsError, DurableError) as exc:
        print(json.dumps({"error": str(exc)}), file=sys.stderr)
        return 2
    except KeyboardInterrupt:  # Ctrl+C before the host installed its own handler
        return 130
    finally:
        shutdown_host_logs()
