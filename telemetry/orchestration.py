"""Replay-safe helpers for orchestrator code: they only move data between inputs.

Nothing here logs, starts spans, reads clocks or draws random numbers, so an orchestrator
that uses them stays deterministic and emits nothing however often it is replayed.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

import azure.durable_functions as df

from .correlation import Correlation, unwrap, wrap


@dataclass(frozen=True)
class Run:
    """The orchestration being executed: its correlation record and its business payload."""

    context: df.DurableOrchestrationContext
    correlation: Correlation
    payload: Any

    @classmethod
    def of(cls, context: df.DurableOrchestrationContext, name: str = "",
           default: Any = None) -> Run:
        """Read the input. Without a correlation record (started directly, not by the
        starter) the orchestration is the root of its run and the record is derived from its
        id; without any input, the payload is `default`."""
        correlation, payload = unwrap(context.get_input())
        if payload is None:
            payload = default
        if correlation is None:
            correlation = Correlation(root_instance_id=context.instance_id,
                                      parent_instance_id="", instance_id=context.instance_id,
                                      orchestration_name=name)
        return cls(context, correlation, payload)

    def child_id(self, suffix: str) -> str:
        """Deterministic child instance id: derived from ours, never random."""
        return f"{self.context.instance_id}:{suffix}"

    def call_sub_orchestrator(self, name: str, suffix: str, payload: Any = None) -> Any:
        child_id = self.child_id(suffix)
        body = self.payload if payload is None else payload
        return self.context.call_sub_orchestrator(
            name, wrap(self.correlation.child(child_id, name), body), child_id)

    def call_activity(self, name: str, payload: Any = None) -> Any:
        body = self.payload if payload is None else payload
        return self.context.call_activity(name, wrap(self.correlation.for_activity(name), body))
