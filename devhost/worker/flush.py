"""A testing switch of devhost's worker: export the app's telemetry before answering.

FunctionRpc has no message that asks a worker to export what the app's OpenTelemetry batch
processors hold, and Azure's workers flush nothing per invocation (no `force_flush` in
azure-functions-python-worker 4.34.0 nor azure-functions-runtime 1.3.0): the exporters send
on their schedule and at exit. A test that reads App Insights rows after a run ends needs
them all filed, so the `durable_app` plugin's host sets
`DEVHOST_WORKER_FLUSH_EACH_INVOCATION=true` for its worker processes: after each invocation,
before the InvocationResponse goes back, the worker calls `force_flush()` on the global
tracer and logger providers. The local ingestion endpoint files
a post before it answers, so when the host sees the response (and the engine, a completed
activity; the client, an HTTP answer) the invocation's app rows are already readable.
`devhost start` never sets it: Azure's worker does not do this, and it costs a post per
invocation.
"""

from __future__ import annotations

import asyncio
import concurrent.futures
import contextvars
import logging
import os

FLUSH_SETTING = "DEVHOST_WORKER_FLUSH_EACH_INVOCATION"
_TIMEOUT_MS = 10_000
log = logging.getLogger("devhost.worker")
# One thread: flushes run one at a time, and never on the runtime's pool (whose threads
# carry an invocation id that would file the exporter's own log lines as the app's).
_executor: concurrent.futures.ThreadPoolExecutor | None = None


def enabled() -> bool:
    return os.environ.get(FLUSH_SETTING, "").strip().lower() == "true"


def flush_providers(timeout_ms: int = _TIMEOUT_MS) -> None:
    """force_flush the global providers (whatever SDK set them; no-op providers have none)."""
    from opentelemetry import _logs, trace

    for provider in (trace.get_tracer_provider(), _logs.get_logger_provider()):
        force_flush = getattr(provider, "force_flush", None)
        if force_flush is None:
            continue
        try:
            force_flush(timeout_ms)
        except Exception:  # the app's exporter failing must not fail the invocation
            log.exception("flushing the app's telemetry failed")


async def after_invocation() -> None:
    """Flush off the event loop (other invocations' logs still flow meanwhile), in an empty
    context: the exporter's own log records must carry no invocation id."""
    global _executor
    if _executor is None:
        _executor = concurrent.futures.ThreadPoolExecutor(1, "devhost-worker-flush")
    await asyncio.get_running_loop().run_in_executor(
        _executor, contextvars.Context().run, flush_providers)
