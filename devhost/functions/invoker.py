"""Invoke a function the way the Python worker does: decode bindings with the converters
registered by `azure.functions`, add `context` when the function declares it, run sync
functions on a thread pool and await async ones."""

from __future__ import annotations

import asyncio
import contextvars
import functools
import inspect
from concurrent.futures import Executor
from pathlib import Path
from typing import Any

from azure.functions import meta

from .app import FunctionInfo
from .context import InvocationContext, TraceContext


class BindingError(Exception):
    """A binding the function declares could not be supplied or decoded."""


def decode_inputs(fn: FunctionInfo, data: dict[str, meta.Datum]) -> dict[str, Any]:
    registry = meta.get_binding_registry()
    args: dict[str, Any] = {}
    for binding in fn.bindings:
        if binding.direction != "in":
            continue
        converter = registry.get(binding.type) if registry else None
        if converter is None:
            raise BindingError(f"{fn.name}: binding type {binding.type!r} is not supported")
        if binding.name not in data:
            raise BindingError(f"{fn.name}: no data for binding {binding.name!r}")
        args[binding.name] = converter.decode(data[binding.name], trigger_metadata={})
    return args


def make_context(fn: FunctionInfo, traceparent: str, tracestate: str = "",
                 retry_count: int = 0) -> InvocationContext:
    from .context import RetryContext

    directory = str(Path(inspect.getfile(fn.user_function)).parent)
    return InvocationContext(fn.name, directory, TraceContext(traceparent, tracestate),
                             RetryContext(retry_count))


async def invoke(fn: FunctionInfo, data: dict[str, meta.Datum], context: InvocationContext,
                 executor: Executor | None = None) -> Any:
    """Call the user function; exceptions propagate to the caller (the host decides)."""
    args = decode_inputs(fn, data)
    if "context" in fn.parameters and "context" not in args:
        args["context"] = context
    target = fn.user_function
    if inspect.iscoroutinefunction(target):
        return await target(**args)
    loop = asyncio.get_running_loop()
    call = functools.partial(contextvars.copy_context().run, target, **args)
    return await loop.run_in_executor(executor, call)


def call_inline(fn: FunctionInfo, data: dict[str, meta.Datum]) -> Any:
    """Run a synchronous function on the caller's thread (used for orchestrator episodes,
    which are short, CPU-only and deterministic)."""
    return fn.user_function(**decode_inputs(fn, data))
