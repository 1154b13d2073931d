"""The app as the host knows it: the function metadata the worker indexed.

The host never imports the app. It asks the worker (FunctionsMetadataRequest) and reads each
function's raw bindings — the JSON the SDK wrote for function.json — which drive routing, the
Durable triggers and the client binding, as in the Functions host's
WorkerFunctionMetadataProvider. Invoking goes through `AppIndex.worker`.
"""

from __future__ import annotations

import json
import re
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path
from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:
    from devhost import rpc
    from devhost.host.channel import Workers


class AppLoadError(Exception):
    """The worker could not start, import or index the app (its own error is the message;
    `location` is the app file and line it comes from)."""

    location: tuple[str | None, int | None] = (None, None)


def source_location(script: Path, function: str) -> tuple[str | None, int | None]:
    """Where `def <function>` starts in the script, decorators included — read as text, since
    the host never imports the app (the worker does)."""
    try:
        lines = script.read_text(encoding="utf-8").splitlines()
    except OSError:
        return None, None
    pattern = re.compile(rf"^\s*(?:async\s+)?def\s+{re.escape(function)}\s*\(")
    for number, line in enumerate(lines):
        if pattern.match(line):
            while number > 0 and lines[number - 1].lstrip().startswith("@"):
                number -= 1
            return str(script), number + 1
    return str(script), None


@dataclass(frozen=True)
class Binding:
    type: str
    name: str
    direction: str  # "in" | "out" | "inout"
    settings: dict[str, Any]


@dataclass(frozen=True)
class FunctionInfo:
    """One indexed function: what the host needs to route to it and invoke it."""

    name: str
    function_id: str
    trigger: Binding
    bindings: tuple[Binding, ...]
    directory: str = ""
    # A function-level retry policy (`@app.retry`): the host applies it on Azure.
    retry_policy: bool = False

    @property
    def durable_name(self) -> str:
        """Name used by Durable to address the function (trigger override or function name)."""
        override = self.trigger.settings.get("orchestration") or self.trigger.settings.get(
            "activity") or self.trigger.settings.get("entityName")
        return str(override or self.name)


@dataclass
class AppIndex:
    script_file: str
    functions: list[FunctionInfo] = field(default_factory=list)
    runtime_version: str = ""
    worker: Workers | None = None
    # by_trigger's maps, asked for on every episode and activity: built once per function
    # list (indexing assigns a new list).
    _maps: dict[str, tuple[list[FunctionInfo], dict[str, FunctionInfo]]] = field(
        default_factory=dict, repr=False, compare=False)

    def _map(self, key: str, build: Callable[[], dict[str, FunctionInfo]]
             ) -> dict[str, FunctionInfo]:
        cached = self._maps.get(key)
        if cached is None or cached[0] is not self.functions:
            cached = self._maps[key] = (self.functions, build())
        return cached[1]

    def by_trigger(self, trigger_type: str) -> dict[str, FunctionInfo]:
        return self._map(trigger_type, lambda: {
            f.durable_name: f for f in self.functions if f.trigger.type == trigger_type})

    @property
    def orchestrators(self) -> dict[str, FunctionInfo]:
        return self.by_trigger("orchestrationTrigger")

    @property
    def activities(self) -> dict[str, FunctionInfo]:
        return self.by_trigger("activityTrigger")

    @property
    def entities(self) -> dict[str, FunctionInfo]:
        """By lower-cased entity name: entity ids are case-insensitive (EntityId)."""
        return self._map("entities", lambda: {
            n.lower(): f for n, f in self.by_trigger("entityTrigger").items()})

    @property
    def http_functions(self) -> list[FunctionInfo]:
        return [f for f in self.functions if f.trigger.type == "httpTrigger"]

    @property
    def invoker(self) -> Workers:
        if self.worker is None:
            raise AppLoadError("no worker serves this app")
        return self.worker


def _binding(raw: str) -> Binding:
    settings = json.loads(raw)
    direction = str(settings.pop("direction", "in")).lower()
    return Binding(type=str(settings.pop("type")), name=str(settings.pop("name")),
                   direction=direction, settings=settings)


def function_info(metadata: rpc.RpcFunctionMetadata) -> FunctionInfo:
    """RpcFunctionMetadata → FunctionInfo, from its raw bindings."""
    bindings = tuple(_binding(raw) for raw in metadata.raw_bindings)
    trigger = next((b for b in bindings if b.type.lower().endswith("trigger")), None)
    if trigger is None:
        raise AppLoadError(f"function {metadata.name!r} has no trigger binding")
    return FunctionInfo(name=metadata.name, function_id=metadata.function_id, trigger=trigger,
                        bindings=bindings, directory=metadata.directory,
                        retry_policy=metadata.HasField("retry_options"))
