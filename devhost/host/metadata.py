"""The function metadata the worker indexed, as the host reads it.

The host never imports the app. It asks the worker (FunctionsMetadataRequest) and reads each
function's raw bindings — the JSON the SDK wrote for function.json — which drive routing, the
Durable triggers and the client binding, as in the Functions host's
WorkerFunctionMetadataProvider.
"""

from __future__ import annotations

import json
import re
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:
    from devhost import rpc


# The programming models, as the proxy worker tells them apart (devhost/worker/dispatcher.py):
# V2, the app's script indexed by azure-functions-runtime; V1, function.json folders read by
# the host and loaded by azure-functions-runtime-v1.
V2 = "v2"
V1 = "v1"
RUNTIMES = {V2: "azure-functions-runtime", V1: "azure-functions-runtime-v1"}


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
