"""Console lines for failures, shaped like `func start` prints them.

The host logs every failed invocation as `Executed 'Functions.<name>' (Failed, Id=<invocation
id>, Duration=<n>ms)` followed by the worker's error: `Exception: <Type>: <message>` and
`Stack:` with the frames (azure-functions-host `FunctionExecutor` logging, the Python worker's
`RpcException`). devhost prints the user's frames, never its own, so the first line a user
reads is their exception and the last frames are where it was raised. The Durable extension
adds a line per failed orchestration and per failed entity operation
(`EndToEndTraceHelper.FunctionFailed` / `OperationFailed`).
A message without details never grows a `None` suffix.
"""

from __future__ import annotations

import sys
from datetime import UTC, datetime
from pathlib import Path
from typing import TextIO

_DEVHOST = str(Path(__file__).resolve().parents[1])
_HIDDEN = (_DEVHOST, "/asyncio/", "/concurrent/futures/", "/contextvars", "/threading.py")
# the worker runtime's frames around user code (either model's runtime)
_WORKER = ("/azure_functions_runtime/", "/azure_functions_runtime_v1/")


def stamp() -> str:
    return "[" + datetime.now(UTC).isoformat(timespec="milliseconds").replace("+00:00", "Z") + "]"


def _failed_header(out: TextIO, function: str, invocation_id: str, duration_ms: float,
                   instance_id: str | None) -> None:
    """The two lines func start prints before a failed invocation's exception."""
    where = f", InstanceId={instance_id}" if instance_id else ""
    print(f"{stamp()} Executed 'Functions.{function}' (Failed, Id={invocation_id}"
          f"{where}, Duration={duration_ms:.0f}ms)", file=out)
    print(f"{stamp()} Exception while executing function: Functions.{function}. "
          "Result: Failure", file=out)


def user_stack(stack_trace: str, error: str = "") -> str:
    """A worker's traceback text (the RpcException's stack_trace) with the worker's,
    the runtime's and the executor's frames left out, ending in the error line."""
    lines = stack_trace.splitlines()
    kept: list[str] = []
    i = 0
    while i < len(lines):
        line = lines[i]
        if line.lstrip().startswith('File "'):
            block = [line]
            while i + 1 < len(lines) and lines[i + 1].startswith("    ") and \
                    not lines[i + 1].lstrip().startswith('File "'):
                i += 1
                block.append(lines[i])
            if not any(part in line for part in _HIDDEN + _WORKER):
                kept.extend(block)
        i += 1
    head = "Traceback (most recent call last):\n" + "\n".join(kept) + "\n" if kept else ""
    return head + error


def remote_invocation_failed(function: str, invocation_id: str, duration_ms: float,
                             error: str, stack_trace: str, *, instance_id: str | None = None,
                             stream: TextIO | None = None) -> None:
    """`invocation_failed` for a failure the worker reported (an InvocationResponse's
    RpcException: `<Type>: <message>` and the traceback text)."""
    out = stream or sys.stderr
    _failed_header(out, function, invocation_id, duration_ms, instance_id)
    print(f"Exception: {error}", file=out)
    frames = user_stack(stack_trace).removeprefix("Traceback (most recent call last):\n")
    if frames.strip():
        print("Stack: " + frames.rstrip(), file=out)
    out.flush()


def orchestration_failed(name: str, instance_id: str, reason: str, details: str | None = None,
                         *, stream: TextIO | None = None) -> None:
    out = stream or sys.stderr
    print(f"{stamp()} {instance_id}: Function '{name} (Orchestrator)' failed with an error. "
          f"Reason: {reason}", file=out)
    if details:
        print(details.rstrip(), file=out)
    out.flush()


def entity_operation_failed(name: str, scheduler_id: str, operation: str, operation_id: str,
                            duration_ms: float, error: str, *, stream: TextIO | None = None
                            ) -> None:
    """EndToEndTraceHelper.OperationFailed's line (its first sentence)."""
    out = stream or sys.stderr
    print(f"{stamp()} {scheduler_id}: Function '{name} (Entity)' failed '{operation}' "
          f"operation {operation_id} after {duration_ms:.0f}ms with exception {error}", file=out,
          flush=True)


def split_failure(message: str) -> tuple[str, str]:
    """The SDK joins a failed task's Reason and Details as `Reason \n Details`: split them."""
    reason, _, details = message.partition(" \n ")
    return reason, details
