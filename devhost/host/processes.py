"""Language workers in their own processes, over FunctionRpc gRPC — what `devhost start`,
`devhost call` and `devhost run` use.

Like the Functions host (azure-functions-host v4.1036.3: GrpcWorkerChannel,
RpcFunctionInvocationDispatcher, RpcFunctionInvocationDispatcherLoadBalancer):
`FUNCTIONS_WORKER_PROCESS_COUNT` workers (default 1) are started with `--host --port
--workerId --requestId --grpcMaxMessageLength`, each opens `EventStream` with a StartStream
and gets the handshake. The host serves once the first is ready; the others start one after
another, a process start-up interval apart, and load what the first indexed; invocations go
round robin over the ready workers; a worker that exits is replaced. The host writes each
invocation's Executing/Executed rows and the workers' RpcLogs through `HostLogs`.
"""

from __future__ import annotations

import asyncio
import contextlib
import itertools
import os
import shlex
import signal
import sys
import uuid
from pathlib import Path
from typing import Any

import grpc

from devhost import rpc
from devhost.host.app import AppIndex
from devhost.host.channel import (
    MAX_MESSAGE,
    PROCESS_COUNT,
    SCRIPT_SETTING,
    START_TIMEOUT,
    Handshake,
    Invocation,
    Loop,
    Outcome,
    Peer,
    WorkerLost,
    Workers,
    handshake,
    log,
)
from devhost.host.logs import HostLogs
from devhost.host.metadata import AppLoadError

EXECUTABLE_SETTING = "languageWorkers:python:defaultExecutablePath"
ARGUMENTS_SETTING = "languageWorkers:python:arguments"
# WorkerProcessCountOptions (v4.1036.3, src/WebJobs.Script/Workers/ProcessManagement/
# WorkerProcessCountOptions.cs): ProcessStartupInterval = 10 s, the wait after each worker is
# initialized before the next starts (RpcFunctionInvocationDispatcher.StartWorkerProcesses).
# Python's worker.config.json has no `processOptions`, so the default holds on Azure; the
# other defaults: ProcessStartupTimeout 60 s (START_TIMEOUT), InitializationTimeout 10 s,
# ProcessRestartInterval 10 s, ProcessShutdownTimeout 10 s, MaxProcessCount 10. No app
# setting changes the interval on Azure; devhost's own setting shortens it for tests.
PROCESS_STARTUP_INTERVAL = 10.0
STARTUP_INTERVAL_SETTING = "DEVHOST_WORKER_STARTUP_INTERVAL"
INITIALIZED = "Worker process started and initialized."  # SetFunctionDispatcherStateTo…AndLog


def startup_interval() -> float:
    """Seconds between worker starts: DEVHOST_WORKER_STARTUP_INTERVAL, else the host's."""
    setting = os.environ.get(STARTUP_INTERVAL_SETTING, "").strip()
    if not setting:
        return PROCESS_STARTUP_INTERVAL
    try:
        seconds = float(setting)
    except ValueError:
        seconds = -1.0
    if not 0 <= seconds < float("inf"):  # "The TimeSpan must not be negative."
        raise AppLoadError(f"{STARTUP_INTERVAL_SETTING} must be a number of seconds, 0 or "
                           f"more, not {setting!r}")
    return seconds


def _setting(name: str) -> str:
    """An app setting by its host name; environment variables spell `:` as `__`."""
    return os.environ.get(name) or os.environ.get(name.replace(":", "__"), "")


def worker_command(python: str) -> list[str]:
    """`<executable> <arguments> -m devhost.worker`, as the host composes a worker's command
    line from worker.config.json (defaultExecutablePath, arguments, defaultWorkerPath) and the
    app settings that override them (`languageWorkers:python:defaultExecutablePath`,
    `languageWorkers:python:arguments`). The host's interpreter by default, with its -S/-I
    flags, so the worker sees the same packages as the host."""
    flags = [f for f, on in (("-I", sys.flags.isolated), ("-S", sys.flags.no_site)) if on]
    return [_setting(EXECUTABLE_SETTING) or python, *flags,
            *shlex.split(_setting(ARGUMENTS_SETTING)), "-m", "devhost.worker"]


class _ProcessPeer(Peer):
    def __init__(self, worker_id: str) -> None:
        super().__init__(worker_id)
        self.outbox: asyncio.Queue[rpc.StreamingMessage | None] = asyncio.Queue()
        self.connected: asyncio.Future[None] = asyncio.get_running_loop().create_future()
        self.process: asyncio.subprocess.Process | None = None
        # On the pool loop's clock: when the process was started and when it became ready.
        self.spawned_at = asyncio.get_running_loop().time()
        self.ready_at: float | None = None

    async def send(self, message: rpc.StreamingMessage) -> None:
        self.outbox.put_nowait(message)

    def lost(self, reason: str) -> None:
        super().lost(reason)
        self.outbox.put_nowait(None)
        if not self.connected.done():
            self.connected.set_exception(WorkerLost(f"worker {self.worker_id} {reason}"))


class _Servicer(rpc.FunctionRpcServicer):
    def __init__(self, pool: ProcessWorkers) -> None:
        self.pool = pool

    async def EventStream(self, request_iterator: Any, context: Any) -> Any:  # noqa: N802
        first = await request_iterator.__anext__()
        peer = self.pool.peers.get(first.start_stream.worker_id)
        if peer is None or peer.gone:
            return
        sink = self.pool.logs.worker_log

        async def read() -> None:
            try:
                async for message in request_iterator:
                    if message.WhichOneof("content") == "rpc_log":
                        sink(message.rpc_log, peer.worker_id)
                    else:
                        peer.receive(message)
            except Exception:  # the stream broke: the process monitor says why
                pass
            finally:
                peer.lost("closed its stream")

        reader = asyncio.create_task(read())
        peer.connected.set_result(None)
        try:
            while (message := await peer.outbox.get()) is not None:
                yield message
        finally:
            reader.cancel()


class ProcessWorkers(Workers):
    """Language workers in their own processes, talking FunctionRpc over gRPC."""

    def __init__(self, app_dir: Path, logs: HostLogs, count: int | None = None,
                 script_file: str = "function_app.py", python: str = sys.executable,
                 worker_env: dict[str, str] | None = None) -> None:
        self.app_dir = app_dir.resolve()
        # Settings the workers get on top of the host's environment (settings.py)
        self.worker_env = dict(worker_env or {})
        self.script_file = script_file
        self.logs = logs
        setting = os.environ.get(PROCESS_COUNT, "1") or "1"
        if count is None and not setting.strip().isdigit():
            raise AppLoadError(f"{PROCESS_COUNT} must be a whole number, not {setting!r}")
        self.count = count or int(setting)
        if not 1 <= self.count <= 10:
            raise AppLoadError(f"{PROCESS_COUNT} must be between 1 and 10, not {self.count}")
        self.python = python
        self.startup_interval = startup_interval()
        self._turn = 0  # the load balancer's counter
        self.peers: dict[str, _ProcessPeer] = {}
        self.restarts = 0
        self._failed_starts = 0  # in a row: a worker that cannot start is retried ever slower
        self._ids = itertools.count(1)
        self._stopping = False
        self._stopped = False
        self._loop = Loop("devhost-workers")
        self._server: grpc.aio.Server | None = None
        self._port = 0
        self._ready: asyncio.Event | None = None
        self._tasks: set[asyncio.Task[Any]] = set()
        self.index = AppIndex(script_file="")
        self._indexed: Handshake | None = None  # the first worker's

    # -- lifecycle, on the pool's loop ----------------------------------------------------
    def start(self) -> AppIndex:
        try:
            self._loop.run(self._start(), START_TIMEOUT * 2)
        except BaseException:
            self.stop()
            raise
        return self.index

    async def _start(self) -> None:
        self._ready = asyncio.Event()
        self._server = grpc.aio.server(options=[
            ("grpc.max_receive_message_length", MAX_MESSAGE),
            ("grpc.max_send_message_length", MAX_MESSAGE)])
        rpc.add_FunctionRpcServicer_to_server(_Servicer(self), self._server)
        self._port = self._server.add_insecure_port("127.0.0.1:0")
        await self._server.start()
        first = await self._spawn()
        self._indexed = await self._bring_up(first)
        functions, version, _, model = self._indexed
        self.index.functions = functions
        self.index.runtime_version = version
        self.index.model = model
        self.index.script_file = self.script_file
        self.index.serve_with(self)
        if self.count > 1:  # the host serves now; the rest come up behind it
            self._spawn_task(self._start_the_rest())

    async def _start_the_rest(self) -> None:
        """RpcFunctionInvocationDispatcher.StartWorkerProcesses: after each worker is
        initialized, wait the process start-up interval, then start the next."""
        for _ in range(self.count - 1):
            await asyncio.sleep(self.startup_interval)
            if self._stopping:
                return
            await self._replace_until_up()

    async def _spawn(self) -> _ProcessPeer:
        worker_id = f"{next(self._ids)}-{uuid.uuid4().hex[:8]}"
        peer = _ProcessPeer(worker_id)
        self.peers[worker_id] = peer
        peer.process = await asyncio.create_subprocess_exec(
            *worker_command(self.python), "--host", "127.0.0.1",
            "--port", str(self._port), "--workerId", worker_id,
            "--requestId", uuid.uuid4().hex, "--grpcMaxMessageLength", str(MAX_MESSAGE),
            cwd=str(self.app_dir), stdout=asyncio.subprocess.PIPE,
            stderr=asyncio.subprocess.STDOUT,
            env={**os.environ, **self.worker_env, "AzureWebJobsScriptRoot": str(self.app_dir),
                 SCRIPT_SETTING: self.script_file})
        self._spawn_task(self._watch(peer))
        return peer

    def _spawn_task(self, coro: Any) -> None:
        task = asyncio.create_task(coro)
        self._tasks.add(task)
        task.add_done_callback(self._tasks.discard)

    async def _watch(self, peer: _ProcessPeer) -> None:
        """Show the worker's console (its output before the stream opens, and crashes), and
        replace it when it exits."""
        assert peer.process is not None and peer.process.stdout is not None
        async for line in peer.process.stdout:
            print(f"[worker {peer.worker_id}] {line.decode(errors='replace').rstrip()}",
                  file=sys.stderr, flush=True)
        code = await peer.process.wait()
        peer.lost(f"exited with code {code}")
        self.peers.pop(peer.worker_id, None)
        if not self._stopping and self.index.served and self.index.workers is self:
            log.warning("worker %s exited with code %s: starting another", peer.worker_id, code)
            self.restarts += 1
            self._spawn_task(self._replace_until_up(delay=min(0.1 * 2 ** self._failed_starts,
                                                              30.0)))

    async def _bring_up(self, peer: _ProcessPeer) -> Handshake:
        try:
            await asyncio.wait_for(peer.connected, START_TIMEOUT)
            result = await asyncio.wait_for(handshake(peer, self.app_dir, self._indexed),
                                            START_TIMEOUT)
        except TimeoutError:
            self._kill(peer)
            raise AppLoadError(f"worker {peer.worker_id} did not start within "
                               f"{START_TIMEOUT:.0f} s") from None
        except WorkerLost as exc:
            raise AppLoadError(f"worker process failed to start: {exc}") from exc
        except AppLoadError:
            self._kill(peer)
            raise
        peer.ready = True
        peer.ready_at = asyncio.get_running_loop().time()
        assert self._ready is not None
        self._ready.set()
        # The host logs it at Information for every worker it brings up (func start shows it).
        print(INITIALIZED, file=sys.stderr, flush=True)
        return result

    async def _replace_until_up(self, delay: float = 0.0) -> None:
        """Start a worker; if it fails, its exit starts the next one after a longer delay."""
        await asyncio.sleep(delay)
        if self._stopping:  # killed or stopped while this replacement waited its turn
            return
        try:
            await self._bring_up(await self._spawn())
            self._failed_starts = 0
        except AppLoadError as exc:
            self._failed_starts += 1
            log.error("%s", exc)

    def _kill(self, peer: _ProcessPeer) -> None:
        if peer.process is not None and peer.process.returncode is None:
            peer.process.kill()

    def kill(self) -> None:
        """Kill every worker process now, from any thread: what the host's
        WorkerProcess.Dispose does (`Process.Kill()`), for an exit that cannot wait for the
        workers (a second Ctrl+C, the shutdown bound). A worker left behind would go on
        running an abandoned activity while the next start runs it again."""
        self._stopping = True  # its exit must not start a replacement
        for peer in list(self.peers.values()):
            process = peer.process
            if process is not None and process.returncode is None:
                with contextlib.suppress(ProcessLookupError):
                    os.kill(process.pid, signal.SIGKILL)

    def stop(self) -> None:
        if self._stopped:
            return
        self._stopped = self._stopping = True
        try:
            self._loop.run(self._stop(), 15)
        finally:
            self._loop.close()

    async def _stop(self) -> None:
        for peer in list(self.peers.values()):
            if not peer.gone:
                await peer.send(rpc.StreamingMessage(worker_terminate=rpc.WorkerTerminate()))
        for peer in list(self.peers.values()):
            if peer.process is not None:
                try:
                    await asyncio.wait_for(peer.process.wait(), 5)
                except TimeoutError:
                    self._kill(peer)
                    await peer.process.wait()
        for task in list(self._tasks):
            task.cancel()
        await asyncio.gather(*self._tasks, return_exceptions=True)
        if self._server is not None:
            await self._server.stop(1)

    # -- invoking -------------------------------------------------------------------------
    @property
    def pids(self) -> list[int]:
        return [p.process.pid for p in self.peers.values() if p.process and p.ready]

    def starts(self) -> list[tuple[float, float | None]]:
        """(started, ready) of each worker process there is, in start order, in seconds on
        one monotonic clock (ready is None until its handshake is done)."""
        return [(p.spawned_at, p.ready_at) for p in self.peers.values()]

    def in_flight(self) -> dict[int, int]:
        """Invocations each ready worker process is running now, by pid."""
        return {p.process.pid: p.in_flight for p in self.peers.values()
                if p.process and p.ready}

    @property
    def description(self) -> str:
        pids = self.pids
        starting = (f" ({self.count - len(pids)} more starting, {self.startup_interval:g} s "
                    "apart)") if len(pids) < self.count else ""
        return (f"{self.count} worker process(es) {pids}{starting}, {self.index.runtime_name} "
                f"{self.index.runtime_version}")

    async def _invoke(self, invocation: Invocation) -> Outcome:
        peer = await self._pick()
        peer.in_flight += 1
        name, iid = invocation.fn.name, invocation.invocation_id
        started = asyncio.get_running_loop().time()
        self.logs.executing(name, iid, invocation.traceparent, invocation.reason)
        outcome: Outcome | None = None
        try:
            response = await peer.request(invocation.message(peer.capabilities))
            outcome = Outcome.of(response.invocation_response, peer.worker_id)
        finally:
            peer.in_flight -= 1
            self.logs.executed(name, iid, outcome is not None and outcome.ok,
                               asyncio.get_running_loop().time() - started,
                               outcome.error if outcome else "worker lost",
                               outcome.stack_trace if outcome else "")
        return outcome

    async def _pick(self) -> _ProcessPeer:
        """RpcFunctionInvocationDispatcherLoadBalancer.GetLanguageWorkerChannel: one ready
        worker takes everything; with more, `Interlocked.Increment(ref _counter) % count`
        picks the next, whatever each has in flight."""
        assert self._ready is not None
        deadline = asyncio.get_running_loop().time() + START_TIMEOUT
        while True:
            ready = [p for p in self.peers.values() if p.ready and not p.gone]
            if len(ready) == 1:
                return ready[0]
            if ready:
                self._turn += 1
                return ready[self._turn % len(ready)]
            if self._stopping:
                raise WorkerLost("the host is stopping")
            self._ready.clear()
            timeout = deadline - asyncio.get_running_loop().time()
            try:
                await asyncio.wait_for(self._ready.wait(), max(timeout, 0.01))
            except TimeoutError:
                raise WorkerLost("no worker is running") from None
