"""The host's side of a worker channel, whatever carries it: the requests it sends and the
responses it matches back (azure-functions-host, src/WebJobs.Script.Grpc/Channel/
GrpcWorkerChannel.cs: WorkerInitRequest with the app folder, FunctionsMetadataRequest, one
FunctionLoadRequest per function, then InvocationRequests).

Every channel runs on an event loop thread of its own, so callers on any loop (the HTTP
server's, an engine test's `asyncio.run`) can `await invoke(...)`. A worker that goes away
fails what it had in flight with `WorkerLost`, which the caller treats as the host does
(HTTP: a failed invocation; Durable: the work item is delivered again — activities run at
least once).
"""

from __future__ import annotations

import asyncio
import concurrent.futures
import logging
import os
import re
import threading
import uuid
from collections.abc import Awaitable
from dataclasses import dataclass, field
from pathlib import Path
from typing import NamedTuple, TypeVar

from devhost import rpc
from devhost.host import triggerdata
from devhost.host.functionjson import METADATA_FILE, read_functions
from devhost.host.metadata import (
    V1,
    V2,
    AppLoadError,
    FunctionInfo,
    function_info,
    source_location,
)
from devhost.host.telemetry import note_worker_capabilities

log = logging.getLogger("devhost.host")
T = TypeVar("T")

HOST_VERSION = "4.1040.0-devhost"
MAX_MESSAGE = 2_147_483_647
START_TIMEOUT = float(os.environ.get("DEVHOST_WORKER_START_TIMEOUT", "60"))
PROCESS_COUNT = "FUNCTIONS_WORKER_PROCESS_COUNT"
SCRIPT_SETTING = "PYTHON_SCRIPT_FILE_NAME"  # the runtime's setting: which file to index
# RpcWorkerConstants (azure-functions-host v4.1036.3, src/WebJobs.Script/Workers/Rpc/
# RpcWorkerConstants.cs): what the host announces in WorkerInitRequest.capabilities.
MULTI_STREAM = "MultiStream"
MULTI_STREAM_HINT = "10"  # GrpcWorkerChannel.SendWorkerInitRequest: "TODO: make this configurable"
V2_COMPATIBLE = "V2Compatable"  # sic
V2_COMPATIBILITY_SETTING = "FUNCTIONS_V2_COMPATIBILITY_MODE"
EXTENSION_VERSION_SETTING = "FUNCTIONS_EXTENSION_VERSION"
# The tag the Application Insights SDK puts on the Activity it starts for an operation
# (Microsoft.ApplicationInsights 2.22.0 ActivityExtensions.SetOperationName).
OPERATION_NAME_TAG = "OperationName"


def host_capabilities() -> dict[str, str]:
    """GrpcWorkerChannel.SendWorkerInitRequest (v4.1036.3): `V2Compatable` in V2
    compatibility mode (EnvironmentExtensions.IsV2CompatibilityMode), `FunctionDataCache`
    only with the shared-memory data cache (off: devhost moves data over gRPC only), and
    always `MultiStream` = 10."""
    capabilities: dict[str, str] = {}
    if os.environ.get(V2_COMPATIBILITY_SETTING, "").strip().lower() == "true" or \
            os.environ.get(EXTENSION_VERSION_SETTING, "").strip().lower() == "~2":
        capabilities[V2_COMPATIBLE] = "true"
    capabilities[MULTI_STREAM] = MULTI_STREAM_HINT
    return capabilities


class WorkerLost(Exception):
    """The worker serving an invocation went away before answering."""


@dataclass
class Invocation:
    fn: FunctionInfo
    inputs: list[rpc.ParameterBinding]
    traceparent: str = ""
    tracestate: str = ""
    # The tags of the host's Activity.Current (WorkerFunctionInvoker.InvokeCore:
    # `Attributes = Activity.Current?.Tags`); None: the Activity the host has without a
    # trigger's own (`activity_tags`).
    attributes: dict[str, str] | None = None
    invocation_id: str = field(default_factory=lambda: str(uuid.uuid4()))
    # The `Reason` of the host's `Executing '…'` row (FunctionStartedMessage.FormatReason):
    # triggers that give none, Durable's included, print "(null)" on Azure and in func start.
    reason: str = "(null)"
    # The trigger's binding data when its input does not tell it all (the activity
    # trigger's `instanceId`); None: derived from the trigger input (triggerdata).
    trigger_metadata: triggerdata.Metadata | None = None

    def activity_tags(self) -> dict[str, str]:
        """Activity.Current's tags when the caller names none. An HTTP request's Activity is
        ASP.NET Core's, with no tags; any other trigger's is the one the WebJobs
        ApplicationInsightsLogger starts with `TelemetryClient.StartOperation` (no current
        Activity: ApplicationInsightsLogger.StartTelemetryIfFunctionInvocation), which the
        Application Insights SDK tags with the operation name, the function's."""
        if self.attributes is not None:
            return self.attributes
        return {} if self.fn.trigger.type == "httpTrigger" else {OPERATION_NAME_TAG: self.fn.name}

    def message(self, worker_capabilities: dict[str, str] | None = None
                ) -> rpc.StreamingMessage:
        """ScriptInvocationContextExtensions.ToRpcInvocationRequest: trace context with
        the Activity's tags whose value is not empty (GetRpcTraceContext), the trigger's
        binding data as trigger_metadata, as the worker's capabilities ask for it."""
        trigger = self.fn.trigger
        metadata = dict(self.trigger_metadata if self.trigger_metadata is not None else
                        triggerdata.for_trigger(trigger.type, trigger.name, self.inputs))
        metadata.update(triggerdata.request_entries(trigger.type, trigger.name, self.inputs,
                                                    worker_capabilities or {}))
        return rpc.StreamingMessage(invocation_request=rpc.InvocationRequest(
            invocation_id=self.invocation_id, function_id=self.fn.function_id,
            input_data=self.inputs, trigger_metadata=metadata,
            trace_context=rpc.RpcTraceContext(
                trace_parent=self.traceparent, trace_state=self.tracestate,
                attributes={k: v for k, v in self.activity_tags().items() if v})))
        # No retry_context: the host sets one only for a function-level retry policy
        # (ScriptInvocationContextExtensions.SetRetryContext reads the RetryContext that
        # WebJobs' FunctionExecutorExtensions.TryExecuteAsync creates only with a
        # RetryStrategy), which devhost does not apply; Durable's retries are new tasks.


@dataclass
class Outcome:
    """An InvocationResponse as the host reads it."""

    invocation_id: str
    ok: bool
    return_value: rpc.TypedData | None = None
    outputs: dict[str, rpc.TypedData] = field(default_factory=dict)
    error: str = ""
    stack_trace: str = ""
    worker_id: str = ""

    def exception_parts(self) -> tuple[str, str]:
        """(type, message) of the worker's RpcException, which says `<type>: <message>`
        (azure_functions_runtime utils/tracing.py serialize_exception)."""
        kind, sep, message = self.error.partition(": ")
        return (kind, message) if sep and kind.isidentifier() else ("Exception", self.error)

    def as_exception(self) -> Exception:
        """The user's exception as the host knows it: its type's name and message, for
        code that records exceptions on spans (the frames stay in `stack_trace`)."""
        kind, message = self.exception_parts()
        return type(kind, (Exception,), {"__module__": "builtins"})(message)

    @classmethod
    def of(cls, response: rpc.InvocationResponse, worker_id: str) -> Outcome:
        ok = response.result.status == rpc.StatusResult.Success
        return cls(invocation_id=response.invocation_id, ok=ok,
                   return_value=response.return_value
                   if response.HasField("return_value") else None,
                   outputs={b.name: b.data for b in response.output_data},
                   error=response.result.exception.message,
                   stack_trace=response.result.exception.stack_trace, worker_id=worker_id)




def failure(result: rpc.StatusResult, what: str, app_dir: Path | None = None) -> AppLoadError:
    """The worker's failure as the host reports it: its exception's message, and where in
    the app's own files it comes from (the last frame of the worker's traceback there)."""
    exc = result.exception
    error = AppLoadError(f"{what}: {exc.message}" if exc.message else what)
    if app_dir is not None:
        error.location = app_location(exc.stack_trace, app_dir)
    return error


_FRAME = re.compile(r'File "([^"]+)", line (\d+)')


def app_location(stack_trace: str, app_dir: Path) -> tuple[str | None, int | None]:
    root = str(app_dir.resolve())
    found: tuple[str | None, int | None] = (None, None)
    for path, line in _FRAME.findall(stack_trace):
        if path.startswith(root) and "site-packages" not in path:
            found = (path, int(line))
    return found


class Loop:
    """A private event loop on its own thread."""

    def __init__(self, name: str) -> None:
        self.loop = asyncio.new_event_loop()
        self.thread = threading.Thread(target=self.loop.run_forever, name=name, daemon=True)
        self.thread.start()

    def run(self, coro: Awaitable[T], timeout: float | None = None) -> T:
        future: concurrent.futures.Future[T] = asyncio.run_coroutine_threadsafe(
            coro, self.loop)  # type: ignore[arg-type]
        return future.result(timeout)

    async def call(self, coro: Awaitable[T]) -> T:
        """Await `coro` on this loop from any other loop."""
        future: concurrent.futures.Future[T] = asyncio.run_coroutine_threadsafe(
            coro, self.loop)  # type: ignore[arg-type]
        return await asyncio.wrap_future(future)

    def close(self) -> None:
        self.loop.call_soon_threadsafe(self.loop.stop)
        self.thread.join(10)


class Workers:
    """The interface the HTTP host and the Durable engine invoke through: a transport
    implements `_invoke` on its own loop; callers on any loop (or none) reach it here."""

    _loop: Loop

    async def _invoke(self, invocation: Invocation) -> Outcome:
        raise NotImplementedError

    async def invoke(self, invocation: Invocation) -> Outcome:
        return await self._loop.call(self._invoke(invocation))

    def invoke_sync(self, invocation: Invocation) -> Outcome:
        """For callers without an event loop (replaying recorded histories)."""
        return self._loop.run(self._invoke(invocation))

    async def outcome(self, invocation: Invocation) -> Outcome:
        """The invocation as a trigger's host sees it: a worker that died with it is a
        failed invocation, not an error of the host."""
        try:
            return await self.invoke(invocation)
        except WorkerLost as exc:
            return Outcome(invocation.invocation_id, ok=False, error=f"WorkerLost: {exc}")

    def stop(self) -> None:
        raise NotImplementedError

    @property
    def description(self) -> str:
        raise NotImplementedError


class Peer:
    """One worker's side of the conversation: requests out, responses matched back."""

    def __init__(self, worker_id: str) -> None:
        self.worker_id = worker_id
        self.pending: dict[str, asyncio.Future[rpc.StreamingMessage]] = {}
        self.in_flight = 0
        self.ready = False
        self.gone = False
        # The worker's WorkerInitResponse.capabilities: what the host sends it depends on
        # them (GrpcWorkerChannel.ApplyCapabilities).
        self.capabilities: dict[str, str] = {}

    def _key(self, message: rpc.StreamingMessage) -> str:
        kind = message.WhichOneof("content")
        if kind == "invocation_request":
            return "inv:" + message.invocation_request.invocation_id
        if kind == "invocation_response":
            return "inv:" + message.invocation_response.invocation_id
        if kind == "function_load_request":
            return "load:" + message.function_load_request.function_id
        if kind == "function_load_response":
            return "load:" + message.function_load_response.function_id
        return str(kind).replace("_request", "").replace("_response", "").replace(
            "functions_metadata", "function_metadata")

    async def request(self, message: rpc.StreamingMessage) -> rpc.StreamingMessage:
        if self.gone:
            raise WorkerLost(f"worker {self.worker_id} is gone")
        future: asyncio.Future[rpc.StreamingMessage] = asyncio.get_running_loop().create_future()
        key = self._key(message)
        self.pending[key] = future
        try:
            await self.send(message)
            return await future
        finally:
            self.pending.pop(key, None)

    async def send(self, message: rpc.StreamingMessage) -> None:
        raise NotImplementedError

    def receive(self, message: rpc.StreamingMessage) -> None:
        future = self.pending.get(self._key(message))
        if future is not None and not future.done():
            future.set_result(message)

    def lost(self, reason: str) -> None:
        self.gone = True
        self.ready = False
        for future in self.pending.values():
            if not future.done():
                future.set_exception(WorkerLost(f"worker {self.worker_id} {reason}"))


class Handshake(NamedTuple):
    """What a worker's handshake gave: its functions, its runtime's version, and the raw
    metadata the host loads the next workers with."""

    functions: list[FunctionInfo]
    runtime_version: str
    metadata: list[rpc.RpcFunctionMetadata]
    model: str  # V1 (the host read function.json) or V2 (the worker indexed)


async def handshake(peer: Peer, app_dir: Path,
                    indexed: Handshake | None = None) -> Handshake:
    """WorkerInitRequest → FunctionsMetadataRequest → FunctionLoadRequest per function.

    The host asks only the first worker for the app's functions (WorkerFunctionMetadata
    Provider, through the webhost channel); the workers it starts after it, and those that
    replace a dead one, get WorkerInitRequest and the FunctionLoadRequests of what it indexed
    (RpcFunctionInvocationDispatcher.InitializeJobhostLanguageWorkerChannelAsync /
    InitializeWebhostLanguageWorkerChannel: SetupFunctionInvocationBuffers,
    SendFunctionLoadRequests): pass that as `indexed`. The runtime's function ids are the
    same in every worker (functions.py: uuid5 of the function's name)."""
    init = await peer.request(rpc.StreamingMessage(worker_init_request=rpc.WorkerInitRequest(
        host_version=HOST_VERSION, function_app_directory=str(app_dir),
        worker_directory=str(Path(__file__).resolve().parents[1] / "worker"),
        capabilities=host_capabilities())))
    response = init.worker_init_response
    if response.result.status != rpc.StatusResult.Success:
        raise failure(response.result, "Worker failed to index functions", app_dir)
    peer.capabilities = dict(response.capabilities)  # merged (GrpcCapabilitiesUpdateStrategy)
    note_worker_capabilities(response.capabilities)
    if indexed is not None:
        model, pairs = indexed.model, list(zip(indexed.metadata, indexed.functions, strict=True))
    else:
        meta = (await peer.request(rpc.StreamingMessage(
            functions_metadata_request=rpc.FunctionsMetadataRequest(
                function_app_directory=str(app_dir))))).function_metadata_response
        if meta.result.status != rpc.StatusResult.Success:
            raise failure(meta.result, "Worker failed to index functions", app_dir)
        if meta.use_default_metadata_indexing:
            # The worker declined (azure_functions_runtime_v1): the host reads function.json
            # itself (FunctionMetadataProvider.GetFunctionMetadataAsync, "Fallback to host
            # indexing as worker denied indexing").
            model, pairs = V1, read_functions(app_dir)
        else:
            model = V2
            pairs = [(m, function_info(m)) for m in meta.function_metadata_results]
    if not pairs:  # the host only warns; devhost has nothing to serve
        raise AppLoadError(f"No job functions found in {app_dir}: the worker indexes the "
                           f"script named by {SCRIPT_SETTING} (default function_app.py); "
                           f"without it, the host reads each folder's {METADATA_FILE} "
                           "(the v1 model), and there is none")
    for metadata, _ in pairs:
        loaded = (await peer.request(rpc.StreamingMessage(
            function_load_request=rpc.FunctionLoadRequest(
                function_id=metadata.function_id, metadata=metadata)))).function_load_response
        if loaded.result.status != rpc.StatusResult.Success:
            error = failure(loaded.result, f"Worker failed to load function {metadata.name}",
                            app_dir if model == V1 else None)
            if model == V1 and error.location[0] is None and metadata.script_file:
                # Nothing of the user's on the stack (a parameter that does not match its
                # binding): where the entry point is defined.
                error.location = source_location(Path(metadata.script_file),
                                                 metadata.entry_point or "main")
            raise error
    return Handshake([info for _, info in pairs], response.worker_metadata.worker_version,
                     [metadata for metadata, _ in pairs], model)
