"""The `context` object the Python worker passes to functions that declare one."""

from __future__ import annotations

import threading
import uuid
from typing import Any

import azure.functions as func
from azure.functions import _abc


class TraceContext(_abc.TraceContext):
    def __init__(self, trace_parent: str, trace_state: str = "",
                 attributes: dict[str, str] | None = None) -> None:
        self._trace_parent = trace_parent
        self._trace_state = trace_state
        self._attributes = attributes or {}

    @property
    def trace_parent(self) -> str:
        return self._trace_parent

    @property
    def trace_state(self) -> str:
        return self._trace_state

    @property
    def attributes(self) -> dict[str, str]:
        return self._attributes

    # Deprecated aliases still read by some libraries.
    Traceparent = trace_parent
    Tracestate = trace_state
    Attributes = attributes


class RetryContext(_abc.RetryContext):
    def __init__(self, retry_count: int = 0, max_retry_count: int = 0) -> None:
        self._retry_count = retry_count
        self._max_retry_count = max_retry_count

    @property
    def retry_count(self) -> int:
        return self._retry_count

    @property
    def max_retry_count(self) -> int:
        return self._max_retry_count

    @property
    def exception(self) -> Any:
        return None


class InvocationContext(func.Context):
    def __init__(self, function_name: str, function_directory: str,
                 trace_context: TraceContext, retry_context: RetryContext | None = None,
                 invocation_id: str | None = None) -> None:
        self._invocation_id = invocation_id or str(uuid.uuid4())
        self._function_name = function_name
        self._function_directory = function_directory
        self._trace_context = trace_context
        self._retry_context = retry_context or RetryContext()
        self._thread_local = threading.local()

    @property
    def invocation_id(self) -> str:
        return self._invocation_id

    @property
    def thread_local_storage(self) -> Any:
        return self._thread_local

    @property
    def function_name(self) -> str:
        return self._function_name

    @property
    def function_directory(self) -> str:
        return self._function_directory

    @property
    def trace_context(self) -> TraceContext:
        return self._trace_context

    @property
    def retry_context(self) -> RetryContext:
        return self._retry_context
