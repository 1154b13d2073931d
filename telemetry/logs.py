"""Structured logs through azure-functions-logging, carrying the correlation keys.

Records of the app's logger get the current correlation record's attributes (set by the starter and
activity instrumentation) as record attributes, which the OpenTelemetry LoggingHandler turns
into log attributes and App Insights into `customDimensions`.
"""

from __future__ import annotations

import contextvars
import logging
import os
import re
from collections.abc import Iterator, Mapping
from contextlib import contextmanager

import azure_functions_logging as afl

from ._redaction import ScreenedRedactionFilter

LOGGER_NAME = "durable_workflow"

# What marks a worker process of the Functions host. FUNCTIONS_WORKER_RUNTIME is the host's
# setting, inherited by its workers; Flex Consumption refuses it as an app setting (it takes
# the language from functionAppConfig.runtime). The host itself sets FUNCTIONS_WORKER_DIRECTORY
# and FUNCTIONS_APPLICATION_DIRECTORY on every language worker it starts, whatever the plan
# (azure-functions-host v4.1036.2 src/WebJobs.Script/Workers/Rpc/RpcWorkerProcess.cs,
# CreateWorkerProcess).
WORKER_RUNTIME = "FUNCTIONS_WORKER_RUNTIME"
HOST_SIGNALS = (WORKER_RUNTIME, "FUNCTIONS_WORKER_DIRECTORY", "FUNCTIONS_APPLICATION_DIRECTORY")

_correlation: contextvars.ContextVar[dict[str, str] | None] = contextvars.ContextVar(
    "durable_workflow_correlation", default=None)

# The package's public default patterns (`DEFAULT_REDACTION_PATTERNS`, public in 0.15.3)
# plus App Insights connection strings, which they do not cover.
SECRET_PATTERNS = (*afl.DEFAULT_REDACTION_PATTERNS,
                   re.compile(r"(?P<keep>(?i:InstrumentationKey|IngestionEndpoint)=)[^;\s\"']+"))


class CorrelationFilter(logging.Filter):
    """Copies the active correlation attributes onto each record of the app's logger."""

    def filter(self, record: logging.LogRecord) -> bool:
        correlation = _correlation.get()
        if correlation:
            # The record's own attributes (its `extra`) win, as `hasattr` would have it;
            # LogRecord keeps them all in its __dict__ (no slots, no properties).
            fields = record.__dict__
            for key, value in correlation.items():
                fields.setdefault(key, value)
        return True


class SingleLineFilter(logging.Filter):
    """Input can hold CR/LF; a log line must not (log injection)."""

    def filter(self, record: logging.LogRecord) -> bool:
        message = record.getMessage()
        if "\n" in message or "\r" in message:
            record.msg = message.replace("\r", "\\r").replace("\n", "\\n")
            record.args = None
        return True


@contextmanager
def correlated(attributes: dict[str, str]) -> Iterator[None]:
    token = _correlation.set({**(_correlation.get() or {}), **attributes})
    try:
        yield
    finally:
        _correlation.reset(token)


def get_logger() -> afl.FunctionLogger:
    return afl.get_logger(LOGGER_NAME)


def under_functions_host(environ: Mapping[str, str] = os.environ) -> bool:
    return any(environ.get(name) for name in HOST_SIGNALS)


def setup() -> logging.Logger:
    """Configure the app's logger once. Under the Functions host the package only decorates
    the host's handlers (JSON via `functions_formatter`, as `format=` is ignored there);
    locally it adds a JSON console handler. Either way our filters sit on the logger itself,
    so they apply whatever handler — console or OpenTelemetry — receives the record."""
    logger = logging.getLogger(LOGGER_NAME)
    if any(isinstance(f, CorrelationFilter) for f in logger.filters):
        return logger
    if under_functions_host():
        # azure-functions-logging (_setup._is_functions_environment) and the Azure Monitor
        # exporter (_utils._is_on_functions) know the host only by FUNCTIONS_WORKER_RUNTIME:
        # where the worker did not inherit it, say what it is. Otherwise the package takes
        # its local path: a console handler on our logger, whose lines the host also logs
        # from the worker's output (twice in App Insights), and no propagation to the
        # worker's root handler, which forwards records to the host.
        os.environ.setdefault(WORKER_RUNTIME, "python")
        afl.setup_logging(functions_formatter=afl.JsonFormatter())
    elif os.environ.get("TELEMETRY_CONSOLE_LOGS", "true").lower() != "false":
        afl.setup_logging(format="json", logger_name=LOGGER_NAME)
    logger.setLevel(logging.INFO)
    logger.addFilter(SingleLineFilter())
    # Redact before the correlation keys are added: those are ids the app generated, so
    # scanning them for secrets on every record would be pure cost. The package's filter,
    # behind a screen that skips records it would leave unchanged (_redaction.py).
    logger.addFilter(ScreenedRedactionFilter(SECRET_PATTERNS))
    logger.addFilter(CorrelationFilter())
    return logger
