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
from collections.abc import Iterator
from contextlib import contextmanager

import azure_functions_logging as afl

LOGGER_NAME = "durable_workflow"

_correlation: contextvars.ContextVar[dict[str, str] | None] = contextvars.ContextVar(
    "durable_workflow_correlation", default=None)

# The package's public default patterns (`DEFAULT_REDACTION_PATTERNS`, public in 0.15.3)
# plus App Insights connection strings, which they do not cover.
SECRET_PATTERNS = (*afl.DEFAULT_REDACTION_PATTERNS,
                   re.compile(r"(?P<keep>(?i:InstrumentationKey|IngestionEndpoint)=)[^;\s\"']+"))


class CorrelationFilter(logging.Filter):
    """Copies the active correlation attributes onto each record of the app's logger."""

    def filter(self, record: logging.LogRecord) -> bool:
        for key, value in (_correlation.get() or {}).items():
            if not hasattr(record, key):
                setattr(record, key, value)
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


def setup() -> logging.Logger:
    """Configure the app's logger once. Under the Functions host the package only decorates
    the host's handlers (JSON via `functions_formatter`, as `format=` is ignored there);
    locally it adds a JSON console handler. Either way our filters sit on the logger itself,
    so they apply whatever handler — console or OpenTelemetry — receives the record."""
    logger = logging.getLogger(LOGGER_NAME)
    if any(isinstance(f, CorrelationFilter) for f in logger.filters):
        return logger
    if os.environ.get("FUNCTIONS_WORKER_RUNTIME"):
        afl.setup_logging(functions_formatter=afl.JsonFormatter())
    elif os.environ.get("TELEMETRY_CONSOLE_LOGS", "true").lower() != "false":
        afl.setup_logging(format="json", logger_name=LOGGER_NAME)
    logger.setLevel(logging.INFO)
    logger.addFilter(SingleLineFilter())
    # Redact before the correlation keys are added: those are ids the app generated, so
    # scanning them for secrets on every record would be pure cost.
    logger.addFilter(afl.RedactionFilter(patterns=SECRET_PATTERNS))
    logger.addFilter(CorrelationFilter())
    return logger
