"""Drive azure_functions_runtime with the host's requests, as Azure's proxy worker does.

proxy_worker/dispatcher.py (Dispatcher._handle__*): each request is wrapped with its name and
`properties={"protos": <the FunctionRpc messages>, "host": <host address>}` and passed to the
runtime's verb; the verb's protobuf response goes back in a StreamingMessage with the
worker's request id. The thread pool for sync functions is the runtime's own
(`start_threadpool_executor`). The transport (gRPC here, a direct call in-process) is the
caller's business.

Which runtime serves the app is decided at WorkerInitRequest, as the proxy worker decides it
(azure-functions-python-worker, workers/proxy_worker/dispatcher.py,
`Dispatcher.reload_library_worker`, commit 0320cd7): the script named by
`PYTHON_SCRIPT_FILE_NAME` (default `function_app.py`) in the app folder means the v2 model and
`azure_functions_runtime`; without it, the v1 model (`function.json` folders) and
`azure_functions_runtime_v1`, which declines to index (FunctionMetadataResponse
`use_default_metadata_indexing`) so the host reads the function.json files itself.
"""

from __future__ import annotations

import contextvars
import importlib
import logging
import os
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path
from types import ModuleType
from typing import Any

import azure_functions_runtime

from devhost import rpc
from devhost.worker import flush
from devhost.worker.paths import use_app_paths

# proxy_worker/logging.py is_system_log_category: the worker's, the runtime's and the SDK's
# own loggers are System; everything else (the app, its libraries, the root) is User.
SYSTEM_PREFIXES = ("devhost.worker", "proxy_worker", "azure_functions_runtime",
                   "azure.functions")
_LEVELS = ((logging.CRITICAL, rpc.RpcLog.Critical), (logging.ERROR, rpc.RpcLog.Error),
           (logging.WARNING, rpc.RpcLog.Warning), (logging.INFO, rpc.RpcLog.Information),
           (logging.DEBUG, rpc.RpcLog.Debug))
_task_invocation: contextvars.ContextVar[str | None] = contextvars.ContextVar(
    "devhost_worker_invocation", default=None)
log = logging.getLogger("devhost.worker")
SCRIPT_SETTING = "PYTHON_SCRIPT_FILE_NAME"  # proxy_worker/utils/common.py get_script_file_name
DEFAULT_SCRIPT = "function_app.py"
V2_RUNTIME = "azure_functions_runtime"
V1_RUNTIME = "azure_functions_runtime_v1"
# The runtimes this process has loaded (a worker process loads one, as the proxy worker's
# _library_worker; the in-process channel may serve apps of both models).
_loaded: dict[str, ModuleType] = {V2_RUNTIME: azure_functions_runtime}


def runtime_for(app_dir: str | Path) -> str:
    """The runtime the proxy worker loads for this app folder (reload_library_worker)."""
    script = os.environ.get(SCRIPT_SETTING) or DEFAULT_SCRIPT
    return V2_RUNTIME if (Path(app_dir) / script).exists() else V1_RUNTIME


@dataclass
class WorkerRequest:
    """The request object the runtime's verbs take (proxy_worker's WorkerRequest)."""

    name: str
    request: Any
    properties: dict[str, Any] = field(default_factory=dict)


def current_invocation_id() -> str | None:
    """The invocation a log record belongs to: the runtime's context variable in its pool
    threads (run_sync_func sets it), ours on the event loop (async functions)."""
    for runtime in _loaded.values():
        if invocation_id := runtime.invocation_id_cv.get():
            return str(invocation_id)
    return _task_invocation.get()


def rpc_log(record: logging.LogRecord, message: str) -> rpc.RpcLog:
    level = next((lvl for threshold, lvl in _LEVELS if record.levelno >= threshold),
                 getattr(rpc.RpcLog, "None"))
    system = record.name.startswith(SYSTEM_PREFIXES)
    entry = rpc.RpcLog(level=level, message=message, category=record.name,
                       log_category=rpc.RpcLog.System if system else rpc.RpcLog.User)
    invocation_id = current_invocation_id()
    if invocation_id:
        entry.invocation_id = invocation_id
    return entry


class RpcLogHandler(logging.Handler):
    """The root handler the worker installs: every record goes to the host as an RpcLog
    (proxy_worker AsyncLoggingHandler → Dispatcher.on_logging)."""

    def __init__(self, send: Callable[[rpc.RpcLog], None]) -> None:
        super().__init__()
        self.send = send

    def emit(self, record: logging.LogRecord) -> None:
        try:
            self.send(rpc_log(record, self.format(record)))
        except Exception:
            self.handleError(record)


class Dispatcher:
    def __init__(self, host: str, request_id: str, worker_id: str,
                 flush_each_invocation: bool = False) -> None:
        self.host = host
        self.request_id = request_id
        self.worker_id = worker_id
        # The testing switch (worker/flush.py): the app's rows are filed before the answer.
        self.flush_each_invocation = flush_each_invocation
        self.runtime: ModuleType = azure_functions_runtime  # until the WorkerInitRequest
        # WorkerInitRequest.capabilities, as the host announced them (of which the runtime
        # reads only FunctionDataCache: handle_event.py worker_init_request).
        self.host_capabilities: dict[str, str] = {}

    def _props(self) -> dict[str, Any]:
        return {"protos": rpc, "host": self.host}

    async def handle(self, message: rpc.StreamingMessage) -> rpc.StreamingMessage | None:
        """One request in, one StreamingMessage out (None for what the worker ignores)."""
        kind = message.WhichOneof("content")
        runtime = self.runtime
        if kind == "worker_init_request":
            app_dir = message.worker_init_request.function_app_directory
            self.host_capabilities = dict(message.worker_init_request.capabilities)
            use_app_paths(app_dir)
            runtime = self.runtime = _load_runtime(runtime_for(app_dir))
            runtime.start_threadpool_executor()
            response = await runtime.worker_init_request(
                WorkerRequest("WorkerInitRequest", message, self._props()))
            return self._reply(worker_init_response=response)
        if kind == "functions_metadata_request":
            response = await runtime.functions_metadata_request(
                WorkerRequest("WorkerMetadataRequest", message))
            return self._reply(function_metadata_response=response)
        if kind == "function_load_request":
            response = await runtime.function_load_request(
                WorkerRequest("FunctionLoadRequest", message))
            return self._reply(function_load_response=response)
        if kind == "invocation_request":
            token = _task_invocation.set(message.invocation_request.invocation_id)
            try:
                response = await runtime.invocation_request(
                    WorkerRequest("FunctionInvocationRequest", message))
            finally:
                _task_invocation.reset(token)
            if self.flush_each_invocation:
                await flush.after_invocation()
            return self._reply(invocation_response=response)
        if kind == "worker_status_request":
            return self._reply(worker_status_response=rpc.WorkerStatusResponse())
        log.error("Unknown StreamingMessage content type: %s", kind)
        return None

    def _reply(self, **content: Any) -> rpc.StreamingMessage:
        return rpc.StreamingMessage(request_id=self.request_id, **content)

    def stop(self) -> None:
        self.runtime.stop_threadpool_executor()


def _load_runtime(name: str) -> ModuleType:
    if name not in _loaded:
        _loaded[name] = importlib.import_module(name)
    return _loaded[name]


async def handle_in_background(dispatcher: Dispatcher, message: rpc.StreamingMessage,
                               send: Callable[[rpc.StreamingMessage], None]) -> None:
    """Requests run concurrently, like the proxy worker's one task per request."""
    reply = await dispatcher.handle(message)
    if reply is not None:
        send(reply)

