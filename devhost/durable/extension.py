"""The Durable extension as the host sees it: a host extension (devhost/host/extensions.py).

Follows azure-functions-durable-extension's `DurableTaskExtension` (2.13.7, v3.x 92fecfc), an
`IExtensionConfigProvider`: `Initialize` adds the trigger rules for orchestrationTrigger,
activityTrigger and entityTrigger, the durableClient input binding rule
(`BindToInput<IDurableOrchestrationClient>`, bound to the client JSON for out-of-process
workers: `BindingHelper.DurableOrchestrationClientToString`) and the HTTP management API as
the extension's webhook (`/runtime/webhooks/durabletask`, `HttpApiHandler`); its
`IAsyncListener`s start the task hub worker with the host and stop it on shutdown (here the
engine: `drain` lets running activities finish, see devhost/durable/shutdown.py).
"""

from __future__ import annotations

import json
from collections.abc import Callable, Mapping
from typing import Any

from aiohttp import web

from devhost.durable.engine import Engine
from devhost.durable.httpapi.management import (
    RPC_PREFIX,
    WEBHOOK_PREFIX,
    ManagementApi,
    client_payload,
)
from devhost.durable.tracking import client_operations_middleware
from devhost.host import typed
from devhost.host.extensions import ExtensionHost, InputBinding
from devhost.host.metadata import FunctionInfo

# Durable's trigger types and what the banner calls the name a client addresses them by.
DURABLE_TRIGGERS = {"orchestrationTrigger": "durable name", "activityTrigger": "durable name",
                    "entityTrigger": "entity name"}
DURABLE_CLIENT = "durableClient"


class DurableExtension:
    """The engine, its management API and the durableClient binding, for one host."""

    trigger_types = frozenset(DURABLE_TRIGGERS)

    def __init__(self, engine: Engine) -> None:
        self.engine = engine
        self._host: ExtensionHost | None = None

    def initialize(self, host: ExtensionHost) -> None:
        self._host = host

    @property
    def base_url(self) -> str:
        """The host's URL, which the webhook and client URLs are built on."""
        if self._host is None:
            raise RuntimeError("the Durable extension is not initialized by a host")
        return self._host.base_url

    def input_bindings(self) -> Mapping[str, InputBinding]:
        return {DURABLE_CLIENT: self.client_binding}

    def client_binding(self, _fn: FunctionInfo) -> Any:
        """The extension binds durableClient to a JSON string for out-of-proc workers."""
        return typed.string(json.dumps(client_payload(self.engine, self.base_url)))

    def add_routes(self, app: web.Application) -> None:
        ManagementApi(self.engine, lambda _request: self.base_url).add_routes(app)
        # HttpApiHandler.LogClientOperationReceived, around every management call.
        app.middlewares.append(client_operations_middleware(
            self.engine.tracking, (WEBHOOK_PREFIX, RPC_PREFIX)))

    def describe(self, fn: FunctionInfo) -> str | None:
        kind = fn.trigger.type
        label = DURABLE_TRIGGERS.get(kind)
        if label is None:
            return None
        return f"{kind}  ({label}: {fn.durable_name})" if fn.durable_name != fn.name else kind

    def banner_lines(self) -> list[str]:
        return [f"Durable management API: {self.base_url}{WEBHOOK_PREFIX}/",
                f"Task hub: {self.engine.options.task_hub}  store: {self.engine.store.path}"]

    async def start(self) -> None:
        await self.engine.start()

    async def drain(self, timeout: float, report: Callable[[str], None]) -> bool:
        return await self.engine.drain(timeout, report)

    async def stop(self) -> None:
        await self.engine.stop()

    def close(self) -> None:
        """The store lives as long as the host: closed once nothing runs on its loop."""
        self.engine.store.close()
