"""Test a Durable Functions app on devhost with pytest: the `durable_app` fixture.

    def test_activity_spans_carry_the_root(durable_app):
        run = durable_app.start("my_orchestrator", {"customer_id": "c-1"})
        assert run.wait().runtime_status == "Completed"
        assert run.spans(name="run_activity:*")

The fixture is registered by the `pytest11` entry point (`devhost.testing.plugin`); these
names are its public API.
"""

from devhost.testing.app import (
    DurableApp,
    ExceptionRecord,
    LogRecord,
    Replay,
    RunHandle,
    Span,
    Status,
)
from devhost.testing.process import DevhostError, Response

__all__ = ["DevhostError", "DurableApp", "ExceptionRecord", "LogRecord", "Replay", "Response",
           "RunHandle", "Span", "Status"]
