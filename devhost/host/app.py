"""The app as the host knows it: the functions the worker indexed, and the workers that
invoke them (`AppIndex.workers`)."""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass, field
from typing import TYPE_CHECKING

from devhost.host.functionjson import METADATA_FILE
from devhost.host.metadata import RUNTIMES, V2, AppLoadError, FunctionInfo

if TYPE_CHECKING:
    from devhost.host.channel import Workers


@dataclass
class AppIndex:
    script_file: str
    functions: list[FunctionInfo] = field(default_factory=list)
    runtime_version: str = ""
    model: str = V2  # metadata.V2 (the worker indexed script_file) or V1 (function.json)
    _workers: Workers | None = field(default=None, repr=False, compare=False)
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

    @property
    def runtime_name(self) -> str:
        """The worker runtime that indexed or loaded the app (the proxy worker's choice)."""
        return RUNTIMES[self.model]

    @property
    def source(self) -> str:
        """What the functions were read from, for the banner."""
        if self.model == V2:
            return f"{self.script_file} (v2 programming model)"
        return f"{METADATA_FILE} folders (v1 programming model)"

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

    def serve_with(self, workers: Workers) -> None:
        """The workers that indexed the app invoke it (a replacement worker too)."""
        self._workers = workers

    @property
    def served(self) -> bool:
        return self._workers is not None

    @property
    def workers(self) -> Workers:
        if self._workers is None:
            raise AppLoadError("no worker serves this app")
        return self._workers
