"""The worker channel without the process and the socket: the worker's dispatcher, and so
Microsoft's `azure_functions_runtime`, in this process. Same messages, same runtime, only the
transport differs. For benchmarks and the tests that read the app's telemetry from in-memory
exporters (`HostConfig(worker_processes=False)`)."""

from __future__ import annotations

import os
import uuid
from pathlib import Path
from typing import Any

from devhost import rpc
from devhost.host.app import AppIndex
from devhost.host.channel import (
    SCRIPT_SETTING,
    START_TIMEOUT,
    Invocation,
    Loop,
    Outcome,
    Peer,
    Workers,
    handshake,
)


class _LocalPeer(Peer):
    def __init__(self, dispatcher: Any) -> None:
        super().__init__("in-process")
        self.dispatcher = dispatcher

    async def send(self, message: rpc.StreamingMessage) -> None:
        reply = await self.dispatcher.handle(message)
        if reply is not None:
            self.receive(reply)


class LocalWorkers(Workers):
    """The worker's dispatcher (and azure_functions_runtime) in this process. The runtime
    keeps one registry per process, so each app folder + script is indexed once and shared."""

    _shared: dict[tuple[str, str], LocalWorkers] = {}

    @classmethod
    def for_app(cls, app_dir: Path, script_file: str = "function_app.py") -> LocalWorkers:
        key = (str(app_dir.resolve()), script_file)
        if key not in cls._shared:
            workers = cls(app_dir.resolve(), script_file)
            workers.start()
            cls._shared[key] = workers
        return cls._shared[key]

    def __init__(self, app_dir: Path, script_file: str) -> None:
        from devhost.worker.dispatcher import Dispatcher

        self.app_dir = app_dir
        self._loop = Loop("devhost-local-worker")
        self._peer = _LocalPeer(Dispatcher("127.0.0.1", uuid.uuid4().hex, "in-process"))
        self.index = AppIndex(script_file=script_file)

    def start(self) -> AppIndex:
        """Handshake with the in-process worker and index the app (as ProcessWorkers.start
        does with its first process); `for_app` calls it once per app."""
        previous = os.environ.get(SCRIPT_SETTING)
        os.environ[SCRIPT_SETTING] = self.index.script_file  # the runtime reads it at init
        try:
            functions, version, _, model = self._loop.run(
                handshake(self._peer, self.app_dir), START_TIMEOUT)
        finally:
            if previous is None:
                os.environ.pop(SCRIPT_SETTING, None)
            else:
                os.environ[SCRIPT_SETTING] = previous
        self.index.functions = functions
        self.index.runtime_version = version
        self.index.model = model
        self.index.serve_with(self)
        return self.index

    @property
    def description(self) -> str:
        return f"in-process worker, {self.index.runtime_name} {self.index.runtime_version}"

    async def _invoke(self, invocation: Invocation) -> Outcome:
        response = await self._peer.request(invocation.message(self._peer.capabilities))
        return Outcome.of(response.invocation_response, self._peer.worker_id)

    def stop(self) -> None:
        """Shared for the life of the process: nothing to stop per user."""
