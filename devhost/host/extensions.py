"""The seam between the Functions host and its extensions.

In Azure the host knows no extension by name: the Durable and timer extensions are WebJobs
extensions that register themselves with it (azure-webjobs-sdk, `IExtensionConfigProvider
.Initialize(ExtensionConfigContext)`). Through that context an extension adds binding rules
for its triggers and input bindings (`AddBindingRule<DurableClientAttribute>()
.BindToInput(...)`; `ITriggerBindingProvider`s whose listeners call the host's
`ITriggeredFunctionExecutor`), and an HTTP webhook that the host routes under
`/runtime/webhooks/{extensionName}` (`context.GetWebhookHandler()`; azure-functions-host
`DefaultScriptWebHookProvider`). The host starts its listeners with the job host and stops
them on shutdown (`IListener.StartAsync/StopAsync`, bounded by the host's shutdown timeout).

`Extension` is that contract cut down to what devhost's host uses: nothing under
`devhost/host/` imports an extension; `devhost/cli/start.py` composes them, as Core Tools
loads the extension bundle for `func start`.
"""

from __future__ import annotations

from collections.abc import Callable, Collection, Mapping
from typing import Any, Protocol

from aiohttp import web

from devhost.host.metadata import FunctionInfo

# The value of one input binding for one invocation (the binding rule's BindToInput):
# the TypedData the host sends the worker for it.
InputBinding = Callable[[FunctionInfo], Any]


class ExtensionHost(Protocol):
    """What an extension may ask of the host: the host's own URL (what `GetWebhookHandler`
    derives webhook URLs from) and the executor its triggers invoke functions through
    (`ITriggeredFunctionExecutor.TryExecuteAsync`)."""

    @property
    def base_url(self) -> str: ...

    async def invoke(self, fn: FunctionInfo, trigger: Any, reason: str,
                     faas_trigger: str) -> Any:
        """Run `fn` with its trigger's ParameterBinding and the input bindings extensions
        supply; `reason` is the `Executing '…'` row's Reason, `faas_trigger` the request
        span's kind of trigger. Returns the function's return value as text; raises what
        the function raised."""
        ...


class Extension(Protocol):
    """One host extension (IExtensionConfigProvider, its trigger listeners and webhook).

    Lifecycle: `initialize` when the host is built, `add_routes` when it builds its HTTP app,
    `start` once it listens (listeners start after the host's HTTP server, so a trigger can
    bind a client that calls back into it), `drain` then `stop` on shutdown (in the reverse
    order of start), `close` once nothing runs on the host's loop any more."""

    @property
    def trigger_types(self) -> Collection[str]:
        """The trigger binding types whose functions it runs (its trigger rules)."""
        ...

    def initialize(self, host: ExtensionHost) -> None: ...

    def input_bindings(self) -> Mapping[str, InputBinding]:
        """Input binding types this extension supplies, e.g. durableClient."""
        ...

    def add_routes(self, app: web.Application) -> None:
        """Its webhook routes (`/runtime/webhooks/<name>/…`)."""
        ...

    def describe(self, fn: FunctionInfo) -> str | None:
        """The banner's text for a function whose trigger this extension runs (its trigger
        type and what addresses it), None when it does not run it."""
        ...

    def banner_lines(self) -> list[str]:
        """Lines the banner prints after the function list (its endpoints, its store)."""
        ...

    async def start(self) -> None: ...

    async def drain(self, timeout: float, report: Callable[[str], None]) -> bool:
        """Take no new work and let running work finish for at most `timeout` seconds,
        reporting what it waits for. True when nothing was cut off."""
        ...

    async def stop(self) -> None: ...

    def close(self) -> None:
        """Release what outlives `stop` (a store): after the host's loop stopped."""
        ...
