"""Load a Functions app by module name and index it the way the Python worker does.

The worker never knows an app's functions in advance: it imports the script and asks the
`FunctionApp` for `get_functions()`. devhost does the same, so it runs any v2-model app.
"""

from __future__ import annotations

import importlib
import inspect
import sys
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import azure.functions as func


class AppLoadError(Exception):
    """The app module could not be imported or holds no FunctionApp."""


@dataclass(frozen=True)
class Binding:
    type: str
    name: str
    direction: str  # "in" | "out"
    settings: dict[str, Any]


@dataclass(frozen=True)
class FunctionInfo:
    """One indexed function: what the host needs to route to it and invoke it."""

    name: str
    trigger: Binding
    bindings: tuple[Binding, ...]
    user_function: Callable[..., Any]

    @property
    def parameters(self) -> list[str]:
        return list(inspect.signature(self.user_function).parameters)

    @property
    def durable_name(self) -> str:
        """Name used by Durable to address the function (trigger override or function name)."""
        override = self.trigger.settings.get("orchestration") or self.trigger.settings.get(
            "activity"
        ) or self.trigger.settings.get("entityName")
        return str(override or self.name)


@dataclass
class AppIndex:
    module_name: str
    app: Any
    functions: list[FunctionInfo] = field(default_factory=list)

    def by_trigger(self, trigger_type: str) -> dict[str, FunctionInfo]:
        return {f.durable_name: f for f in self.functions if f.trigger.type == trigger_type}

    @property
    def orchestrators(self) -> dict[str, FunctionInfo]:
        return self.by_trigger("orchestrationTrigger")

    @property
    def activities(self) -> dict[str, FunctionInfo]:
        return self.by_trigger("activityTrigger")

    @property
    def http_functions(self) -> list[FunctionInfo]:
        return [f for f in self.functions if f.trigger.type == "httpTrigger"]


def _enum_value(value: Any) -> Any:
    if isinstance(value, list):
        return [_enum_value(v) for v in value]
    return getattr(value, "value", value)


def _binding(raw: Any) -> Binding:
    settings = {k: _enum_value(v) for k, v in raw.get_dict_repr().items()}
    direction = "out" if str(settings.pop("direction", 0)) in ("1", "out", "OUT") else "in"
    return Binding(type=raw.type, name=raw.name, direction=direction, settings=settings)


def _find_app(module: Any) -> Any:
    if isinstance(getattr(module, "app", None), func.FunctionRegister):
        return module.app
    for value in vars(module).values():
        if isinstance(value, func.FunctionRegister):
            return value
    raise AppLoadError(f"module {module.__name__!r} defines no FunctionApp instance")


_INDEXED: dict[str, AppIndex] = {}


def load_app(module_name: str = "function_app", app_dir: Path | None = None) -> AppIndex:
    """Import `module_name` from `app_dir` (default: cwd) and index its functions.

    Indexing happens once per module, as in the worker: the library's `get_functions()`
    validates as it builds and refuses to run twice on one app.
    """
    if module_name in _INDEXED:
        return _INDEXED[module_name]
    directory = str((app_dir or Path.cwd()).resolve())
    if directory not in sys.path:
        sys.path.insert(0, directory)
    try:
        module = importlib.import_module(module_name)
    except ImportError as exc:
        raise AppLoadError(f"cannot import app module {module_name!r}: {exc}") from exc
    app = _find_app(module)
    index = AppIndex(module_name=module_name, app=app)
    for fn in app.get_functions():
        bindings = tuple(_binding(b) for b in fn.get_bindings())
        trigger = next(b for b in bindings if b.type.endswith("Trigger"))
        index.functions.append(
            FunctionInfo(
                name=fn.get_function_name(),
                trigger=trigger,
                bindings=bindings,
                user_function=fn.get_user_function(),
            )
        )
    _INDEXED[module_name] = index
    return index
