"""Correlated telemetry for a Durable Functions app: one trace per business run, parent and
child orchestration instance ids on every span and log, nothing emitted from replayed code."""

from . import attributes
from .config import configure, flush
from .correlation import Correlation, CorrelationError, unwrap, wrap
from .logs import get_logger
from .orchestration import Run
from .spans import Started, activity, activity_span, start_orchestration

__all__ = ["Correlation", "CorrelationError", "Run", "Started", "activity", "activity_span",
           "attributes", "configure", "flush", "get_logger", "start_orchestration", "unwrap",
           "wrap"]
