"""The engine as its parts see it: the orchestration and activity dispatcher.

In DurableTask.Core, `TaskOrchestrationDispatcher` and `TaskActivityDispatcher` fetch work
items from the orchestration service, run them and complete them through it
(`CompleteTaskOrchestrationWorkItemAsync` commits an episode's history, its activity
messages, its orchestrator messages and its timers at once). devhost's `Engine` is both
dispatchers over one SQLite store. The parts split out of it — an orchestrator episode
(episode.py), an entity batch (entities.py), suspend/resume/rewind (lifecycle.py) — commit
through `Dispatcher`, and graceful shutdown (shutdown.py) drains it through `Draining`. The
engine satisfies both protocols structurally: the parts import this module, never the
engine, so the engine's own state changes only in engine.py, and the engine imports its parts
without a cycle.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Protocol

from devhost.durable.history import Event
from devhost.durable.store import Instance, Store, WorkItem
from devhost.durable.timeskip import DurableClock
from devhost.durable.tracing import HostTracer, TraceParent
from devhost.durable.tracking import Tracking
from devhost.durable.versioning import Versioning
from devhost.host.app import AppIndex


@dataclass(frozen=True)
class EngineOptions:
    max_concurrent_activities: int = 10
    max_concurrent_orchestrations: int = 10
    # AzureStorageDurabilityProviderFactory: 5000 outside the Consumption plan.
    max_entity_operation_batch_size: int = 5000
    task_hub: str = "DevHostHub"
    # Tests only (devhost.testing): durable timers fire at once, orchestration time jumps.
    skip_timers: bool = False
    # host.json extensions.durableTask.tracing: distributedTracingEnabled + version "V2".
    tracing_v2: bool = False
    # extensions.durableTask.tracing traceReplayEvents / traceInputsAndOutputs (tracking.py).
    trace_replay_events: bool = False
    trace_inputs_and_outputs: bool = False
    # host.json defaultVersion / versionMatchStrategy / versionFailureStrategy (versioning.py).
    versioning: Versioning = Versioning()
    # host.json overridableExistingInstanceStates: "AnyState" (versioning.py).
    override_any_state: bool = False


class HistoryCache:
    """History of running instances as last committed (and of one that just finished, until
    the engine's `finished` has read its version): saves reading and decoding it on every
    episode. Filled from the store, so a restart simply starts empty; whatever rewrites
    an instance's history outside an episode (a rewind, a suspension, a purge) forgets it."""

    def __init__(self) -> None:
        self._events: dict[str, list[Event]] = {}

    def get(self, instance_id: str) -> list[Event] | None:
        return self._events.get(instance_id)

    def put(self, instance_id: str, events: list[Event]) -> None:
        self._events[instance_id] = events

    def forget(self, instance_id: str) -> None:
        self._events.pop(instance_id, None)


class Dispatcher(Protocol):
    """What an episode, an entity batch and the lifecycle operations ask of the engine.

    The app (`index`: its functions and the worker that invokes them), the `store` every
    commit goes to, the settings, the host's tracer, the extension's tracking traces and the
    clock orchestrations see are shared as they are. What changes the engine's own state is a
    method: after a commit,
    `notify` and `dispatch_activity` hand the engine what the commit made runnable, as the
    orchestration service hands dispatchers the messages a completed work item sent."""

    index: AppIndex
    store: Store
    options: EngineOptions
    tracer: HostTracer
    tracking: Tracking
    clock: DurableClock
    histories: HistoryCache

    def notify(self, instance_id: str, visible_at: float = 0.0) -> None:
        """A message for `instance_id` is committed: run an episode (or an entity batch) for
        it once it is visible (`visible_at`, epoch seconds; 0 is now)."""

    def dispatch_activity(self, item: WorkItem) -> None:
        """A committed work item: run the activity (at least once) and commit its result."""

    def create_instance(self, instance_id: str, name: str, input_json: str | None,
                        trace_parent: TraceParent, parent: Instance | None = None,
                        parent_task_id: int | None = None, replaces: bool = True,
                        version: str = "") -> str:
        """Within the caller's transaction: write a new Pending instance and its
        ExecutionStarted message (carrying `version`); returns the execution id."""
        ...

    def finished(self, inst: Instance, error: str | None = None) -> None:
        """After the commit that made `inst` terminal: its orchestration span, the failure
        line on the console, and the parent and the waiters woken."""


class Draining(Protocol):
    """What a graceful shutdown (shutdown.py) asks of the engine."""

    @property
    def running_activities(self) -> list[WorkItem]:
        """The activities whose user code is running now."""
        ...

    @property
    def busy(self) -> bool:
        """Whether anything still runs: an episode, an activity, a worker retry."""
        ...

    def stop_taking_work(self) -> None:
        """No new episode, activity or timer starts; what is queued stays in the store."""

    async def settle(self, timeout: float) -> None:
        """Wait at most `timeout` seconds for what runs now to finish."""
